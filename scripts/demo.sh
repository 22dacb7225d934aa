#!/usr/bin/env bash
# make demo: the whole system on the embedded stack. Fetches the engine,
# builds, starts the devstack, applies the schema, starts the ingester and
# the aggregator, runs simulated model servers with compressed time (a
# simulated minute per second: labels arrive seconds later, one feature
# drifts half-way), then prints a report read from the API and ClickHouse.
# It keeps running until Ctrl-C, or for DEMO_SECONDS, and stops everything
# it started.
#
# Environment: DEMO_SECONDS (0 = until Ctrl-C), DEMO_LOAD_SECONDS (60),
# DEMO_RATE (predictions/s, 1000), DEMO_KAFKA (127.0.0.1:9092),
# DEMO_CLICKHOUSE (127.0.0.1:8123), DEMO_INGESTER (127.0.0.1:9464),
# DEMO_AGGREGATOR (127.0.0.1:9465).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

DEMO_SECONDS=${DEMO_SECONDS:-0}
LOAD_SECONDS=${DEMO_LOAD_SECONDS:-60}
RATE=${DEMO_RATE:-1000}
KAFKA=${DEMO_KAFKA:-127.0.0.1:9092}
CH=${DEMO_CLICKHOUSE:-127.0.0.1:8123}
ING=${DEMO_INGESTER:-127.0.0.1:9464}
AGG=${DEMO_AGGREGATOR:-127.0.0.1:9465}
DB=predlog

# Whole seconds: `DEMO_SECONDS=20s` would otherwise fail only after the
# report, at its `-gt` test, and the demo then ran until Ctrl-C. No
# leading zero (bash's $((08 / 2)) reads octal and fails once the stack
# runs) and at most nine digits (`-gt` fails past 64 bits).
for var in DEMO_SECONDS=$DEMO_SECONDS DEMO_LOAD_SECONDS=$LOAD_SECONDS; do
	if ! [[ ${var#*=} =~ ^(0|[1-9][0-9]{0,8})$ ]]; then
		echo "demo: ${var%%=*} wants whole seconds (e.g. 20), got \"${var#*=}\"" >&2
		exit 1
	fi
done
if [ "$LOAD_SECONDS" -lt 1 ]; then
	echo "demo: DEMO_LOAD_SECONDS wants at least 1 second" >&2
	exit 1
fi

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
busy() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
for addr in "$KAFKA" "$CH" "$ING" "$AGG"; do
	if busy "$addr"; then
		echo "demo: $addr is already in use: stop what listens there (a devstack from make devstack?) or set DEMO_KAFKA/DEMO_CLICKHOUSE/DEMO_INGESTER/DEMO_AGGREGATOR" >&2
		exit 1
	fi
done

say "fetching the embedded ClickHouse engine (once) and building"
export PREDLOG_LIBCHDB=${PREDLOG_LIBCHDB:-$(scripts/fetch-libchdb.sh)}
mkdir -p .devstack/bin .devstack/logs
go build -o .devstack/bin/ ./cmd/devstack ./cmd/ingester ./cmd/aggregator ./cmd/loadgen ./cmd/predlog-report

pids=()
cleanup() {
	trap - EXIT INT TERM
	say "stopping"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do # reverse start order
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the devstack (Kafka $KAFKA, ClickHouse http://$CH)"
rm -f .devstack/demo-ready.json
.devstack/bin/devstack --kafka.addr "$KAFKA" --clickhouse.addr "$CH" --data-dir .devstack/clickhouse \
	--ready-file .devstack/demo-ready.json --log.level warn >.devstack/logs/devstack.log 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
	[ -f .devstack/demo-ready.json ] && break
	kill -0 "${pids[0]}" 2>/dev/null || { cat .devstack/logs/devstack.log >&2; exit 1; }
	sleep 0.1
done
[ -f .devstack/demo-ready.json ] || { echo "demo: devstack not ready after 30s" >&2; exit 1; }

common=(--clickhouse.dsn "http://$CH" --clickhouse.database "$DB" --log.level warn --log.format json)
say "applying the schema to a fresh database $DB"
curl -sS --fail-with-body --data-binary "DROP DATABASE IF EXISTS $DB SYNC" "http://$CH/" >/dev/null
.devstack/bin/ingester migrate "${common[@]}" | tail -n 2

say "starting the ingester (ops http://$ING) and the aggregator (API http://$AGG)"
.devstack/bin/ingester "${common[@]}" --kafka.brokers "$KAFKA" --http.listen "$ING" >.devstack/logs/ingester.log 2>&1 &
pids+=($!)
.devstack/bin/aggregator "${common[@]}" --http.listen "$AGG" --schedule.interval 5s \
	--windows.allowed-lateness 5s --windows.ingest-delay 5s --windows.granularities 1m,1h \
	--slices.metadata-keys tenant >.devstack/logs/aggregator.log 2>&1 &
pids+=($!)

say "simulating model servers for ${LOAD_SECONDS}s at ${RATE}/s, a simulated minute per second"
.devstack/bin/loadgen --kafka.brokers "$KAFKA" --rate "$RATE" --duration "${LOAD_SECONDS}s" --time-scale 60 \
	--label-delay 5m --drift-after "$((LOAD_SECONDS / 2))m" --models 3 --seed 7 --progress-interval 5s --log.level warn

say "waiting for the ingester to drain Kafka and the aggregator to catch up"
sql() { curl -sS "http://$CH/?database=$DB" --data-binary "$1" || true; }
# Drained: no consumer lag left (the metric's series summed over partitions).
drained=
for _ in $(seq 1 120); do
	lag=$({ curl -s "http://$ING/metrics" || true; } | awk '/^predlog_ingester_consumer_lag_messages/ {s += $2; n++} END {print n ? s : -1}')
	[ "$lag" = 0 ] && drained=1 && break
	sleep 1
done
[ -n "$drained" ] || echo "demo: the ingester still has consumer lag ($lag) after 120s; reporting anyway (see .devstack/logs/ingester.log)" >&2
# Caught up: the aggregator's ingest watermarks (written after a cycle has
# computed what it found) are past the last rows ingested, and the window
# of the last prediction has closed and been computed.
behind="SELECT (SELECT max(ingest_time) FROM prediction_logs) > (SELECT max(value) FROM aggregator_watermarks FINAL WHERE name = 'ingest.predictions')
	OR (SELECT max(ingest_time) FROM outcomes) > (SELECT max(value) FROM aggregator_watermarks FINAL WHERE name = 'ingest.outcomes')
	OR (SELECT toStartOfMinute(max(event_time)) + INTERVAL 1 MINUTE FROM prediction_logs) > (SELECT max(value) FROM aggregator_watermarks FINAL WHERE name = 'closed.1m')"
caught=
for _ in $(seq 1 180); do
	ready=$(curl -s -o /dev/null -w '%{http_code}' "http://$AGG/readyz" || true)
	[ "$ready" = 200 ] && [ "$(sql "$behind")" = 0 ] && caught=1 && break
	sleep 1
done
[ -n "$caught" ] || echo "demo: the aggregator has not caught up after 180s; the report may be partial (see .devstack/logs/aggregator.log)" >&2
want=$(sql "SELECT count() FROM prediction_logs")

say "report (every figure read from the aggregator API and ClickHouse; $want predictions ingested)"
.devstack/bin/predlog-report --api "http://$AGG" --clickhouse "http://$CH" --database "$DB" --days 1 --granularity 1m --slice-key tenant

model=$(curl -sS "http://$CH/?database=$DB" --data-binary "SELECT model_id FROM prediction_logs GROUP BY model_id ORDER BY count() DESC LIMIT 1")
cat <<EOF

== where to look next
  metrics      curl http://$ING/metrics | grep ^predlog_ingester_    (ingester)
               curl http://$AGG/metrics | grep ^predlog_aggregator_  (aggregator)
  API          curl http://$AGG/v1/models
               curl 'http://$AGG/v1/models/$model/performance?days=1&granularity=1m'
               curl 'http://$AGG/v1/models/$model/drift?days=1&granularity=1m'
               curl 'http://$AGG/v1/models/$model/slices?days=1&granularity=1m&slice_key=tenant'
               curl http://$AGG/v1/experiments
  ClickHouse   curl 'http://$CH/?database=$DB' --data-binary 'SELECT model_id, count() FROM prediction_logs GROUP BY model_id'
  logs         .devstack/logs/
EOF

if [ "$DEMO_SECONDS" -gt 0 ]; then
	say "running for ${DEMO_SECONDS}s more (DEMO_SECONDS)"
	# In the background: a foreground sleep holds off the TERM trap until it
	# ends. Listed in pids so that cleanup stops it too.
	sleep "$DEMO_SECONDS" &
	pids+=($!)
	wait $!
else
	say "running until Ctrl-C"
	wait "${pids[0]}"
fi
