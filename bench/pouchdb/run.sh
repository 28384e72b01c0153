#!/usr/bin/env bash
# Compare couchfs with pouchdb-server 4.2.0 (LevelDOWN backend, no fsync) on
# this machine: serial PUTs, 16 concurrent PUTs, _bulk_docs of 1,000 and a
# _changes read, beside couchfs doing the same work through a mount
# (`couchfs bench --peer URL`).
#
#   bench/pouchdb/run.sh [--quick] [--json] [--engine NAME]...
#
# pouchdb-server is installed with npm into
# ${XDG_CACHE_HOME:-~/.cache}/couchfs-bench/pouchdb-server-4.2.0 when missing
# (needs node, npm and the npm registry). Environment: PORT (default 5985)
# picks its port; COUCHFS names a couchfs binary to use instead of building
# one from this checkout; BENCH_DIR is where couchfs mounts (its disk is the
# one measured).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=4.2.0
cache=${XDG_CACHE_HOME:-$HOME/.cache}/couchfs-bench/pouchdb-server-$version
port=${PORT:-5985}
server=$cache/node_modules/.bin/pouchdb-server

fail() {
	echo "run.sh: $*" >&2
	exit 1
}

for tool in curl; do
	command -v "$tool" >/dev/null || fail "$tool not found (apt-get install $tool)"
done

if [ ! -x "$server" ]; then
	command -v node >/dev/null && command -v npm >/dev/null ||
		fail "node and npm are needed to install pouchdb-server $version (apt-get install nodejs npm)"
	echo "run.sh: installing pouchdb-server $version into $cache" >&2
	mkdir -p "$cache"
	if ! (cd "$cache" && npm install --save-exact --no-audit --no-fund --loglevel=error "pouchdb-server@$version") >&2; then
		fail "npm install pouchdb-server@$version failed (see npm's error above); the peer comparison is blocked until the npm registry is reachable"
	fi
	[ -x "$server" ] || fail "npm install finished but $server is missing"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/couchfs-pouchdb-XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

couchfs=${COUCHFS:-}
if [ -z "$couchfs" ]; then
	echo "run.sh: building couchfs" >&2
	(cd "$root" && go build -o "$work/couchfs" .)
	couchfs=$work/couchfs
fi

mkdir -p "$work/db"
# pouchdb-server writes config.json and log.txt into its working directory.
(cd "$work" && exec "$server" --host 127.0.0.1 --port "$port" --dir "$work/db" \
	--config "$work/config.json" --no-stdout-logs >"$work/pouchdb.log" 2>&1) &
pid=$!

url=http://127.0.0.1:$port
for _ in $(seq 1 150); do
	if curl -fsS --max-time 2 "$url/" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		cat "$work/pouchdb.log" >&2
		fail "pouchdb-server exited (log above)"
	fi
	sleep 0.2
done
welcome=$(curl -fsS --max-time 5 "$url/") || fail "pouchdb-server did not answer on $url within 30 s"
echo "run.sh: pouchdb-server $welcome on $url, data in $work/db" >&2

"$couchfs" bench --peer "$url" --dir "${BENCH_DIR:-${TMPDIR:-/tmp}}" "$@"
