#!/usr/bin/env bash
# The README's test command (make test): everything a fresh clone needs, then
# unit and integration tests against one devstack, then the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH=$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin

# kcat (librdkafka) checks the broker against a second Kafka implementation.
if ! command -v kcat >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test: installing kcat"
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
	else
		echo "test: kcat not found; its test will be skipped (apt-get install kcat)" >&2
	fi
fi

export PREDLOG_LIBCHDB=${PREDLOG_LIBCHDB:-$(scripts/fetch-libchdb.sh)}
# promtool runs the alert rules' unit tests; without it they are skipped.
if PREDLOG_PROMTOOL=${PREDLOG_PROMTOOL:-$(scripts/fetch-promtool.sh)}; then
	export PREDLOG_PROMTOOL
else
	echo "test: promtool not available; the alert rules' unit tests will be skipped" >&2
	unset PREDLOG_PROMTOOL
fi
go build ./...

work=$(mktemp -d "${TMPDIR:-/tmp}/predlog-test.XXXXXX")
go build -o "$work/devstack" ./cmd/devstack
"$work/devstack" --kafka.addr 127.0.0.1:0 --clickhouse.addr 127.0.0.1:0 \
	--data-dir "$work/data" --ready-file "$work/ready.json" --log.level warn \
	>"$work/devstack.log" 2>&1 &
ds=$!
cleanup() {
	kill -TERM "$ds" 2>/dev/null && wait "$ds" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
	[ -f "$work/ready.json" ] && break
	if ! kill -0 "$ds" 2>/dev/null; then
		echo "test: devstack exited before it was ready:" >&2
		cat "$work/devstack.log" >&2
		exit 1
	fi
	sleep 0.1
done
[ -f "$work/ready.json" ] || { echo "test: devstack not ready after 60s" >&2; exit 1; }
ready=$(cat "$work/ready.json")
PREDLOG_TEST_KAFKA=$(sed -E 's/.*"kafka":"([^"]+)".*/\1/' <<<"$ready")
PREDLOG_TEST_CLICKHOUSE=$(sed -E 's/.*"clickhouse":"([^"]+)".*/\1/' <<<"$ready")
PREDLOG_TEST_ENGINE_PID=$ds # benchmarks report the engine's CPU time
export PREDLOG_TEST_KAFKA PREDLOG_TEST_CLICKHOUSE PREDLOG_TEST_ENGINE_PID
echo "test: devstack kafka=$PREDLOG_TEST_KAFKA clickhouse=$PREDLOG_TEST_CLICKHOUSE"

go vet ./...
go tool staticcheck ./... # pinned in go.mod's tool block
status=0
# Then again under the race detector, the packages whose goroutines share
# state (the pipeline, its sinks and the daemons' servers): ~2 minutes
# more. One summary for both; the second pass's packages read "race:…".
race=(./internal/ingest/ ./internal/dlq/ ./internal/chwriter/ ./internal/daemon/ ./internal/api/ ./internal/telemetry/ ./cmd/aggregator/)
# Of the aggregator's package (minutes of engine work), the tests of what
# its goroutines share; with 4 Ps even on a smaller runner, as forEach
# starts one goroutine per P.
race_aggregate='^(TestForEach|TestGroupsDrift)$'
{
	go test -json -count=1 -timeout 20m ${GOTESTFLAGS:-} ./... 2>&1
	{
		go test -json -count=1 -race -timeout 10m ${GOTESTFLAGS:-} "${race[@]}" 2>&1
		go test -json -count=1 -race -timeout 10m ${GOTESTFLAGS:-} -cpu 4 -run "$race_aggregate" ./internal/aggregate/ 2>&1
	} | sed -E 's/"Package":"/"Package":"race:/'
} | go run ./internal/tools/testsum || status=$?
if [ "$status" != 0 ]; then
	echo "test: devstack log tail:" >&2
	tail -n 30 "$work/devstack.log" >&2
fi
exit "$status"
