#!/usr/bin/env bash
# Fetches libchdb, the embedded ClickHouse engine the devstack serves, once:
# npm pack of the pinned package, both checksums verified, cached outside the
# repository. Prints the library's path. Idempotent and safe to run often.
set -euo pipefail

VERSION=26.7.3-stable.1
PKG=@chdb/lib-linux-x64-gnu
TGZ_SHA256=c0d32b129e988f2b9a9a31c9141aecf5e1e2453f9a079efc4d36ab8e3f92b2ad
SO_SHA256=36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5

cache=${PREDLOG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/predlog}
dest=$cache/libchdb-$VERSION
lib=$dest/libchdb.so
stamp=$dest/.verified

if [ -f "$lib" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$SO_SHA256" ]; then
	echo "$lib"
	exit 0
fi

if [ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]; then
	echo "fetch-libchdb: $PKG is built for Linux x86_64, this is $(uname -s)/$(uname -m); use docker-compose instead" >&2
	exit 1
fi
if ! command -v npm >/dev/null; then
	echo "fetch-libchdb: npm is needed to fetch $PKG@$VERSION (apt-get install npm), or set PREDLOG_LIBCHDB to a libchdb.so $VERSION" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/predlog-libchdb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "fetch-libchdb: fetching $PKG@$VERSION (178 MB, once)..." >&2
(cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$TGZ_SHA256" ]; then
	echo "fetch-libchdb: checksum mismatch for $PKG@$VERSION: got $got, want $TGZ_SHA256" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/libchdb.so
got=$(sha256sum "$tmp/package/libchdb.so" | cut -d' ' -f1)
if [ "$got" != "$SO_SHA256" ]; then
	echo "fetch-libchdb: checksum mismatch for libchdb.so: got $got, want $SO_SHA256" >&2
	exit 1
fi
mkdir -p "$dest"
mv "$tmp/package/libchdb.so" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "$SO_SHA256" >"$stamp"
echo "$lib"
