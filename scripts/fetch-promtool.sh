#!/usr/bin/env bash
# Fetches promtool, which runs the alert rules' unit tests
# (configs/alerts_test.yml), once: the one binary out of Debian's prometheus
# package, unpacked into the cache without installing the package (no
# service, no dependencies; apt checks the package's signature). Prints its
# path. Idempotent; a promtool already on PATH is used as it is.
set -euo pipefail

if command -v promtool >/dev/null; then
	command -v promtool
	exit 0
fi

cache=${PREDLOG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/predlog}
bin=$cache/promtool/promtool
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

if ! command -v apt-get >/dev/null; then
	echo "fetch-promtool: apt-get not found; install promtool (Prometheus) to run the alert rules' tests" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/predlog-promtool.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A fresh machine has no package lists yet; only root can fetch them.
if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
	if [ "$(id -u)" != 0 ]; then
		echo "fetch-promtool: apt-get download prometheus failed; run apt-get update as root, or install promtool" >&2
		exit 1
	fi
	apt-get update -qq >/dev/null
	(cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1)
fi
echo "fetch-promtool: unpacked promtool from $(basename "$tmp"/prometheus_*.deb)" >&2
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
mkdir -p "$(dirname "$bin")"
mv "$tmp/root/usr/bin/promtool" "$bin.tmp"
mv "$bin.tmp" "$bin"
"$bin" --version >/dev/null
echo "$bin"
