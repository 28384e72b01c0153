#!/usr/bin/env bash
# The whole test suite: what the README calls "run the tests" and what CI runs.
#
# Mount tests need /dev/fuse. They skip without it on a developer machine, but
# under CI (CI=true) COUCHFS_REQUIRE_FUSE=1 turns that skip into a failure.
# The core packages (engines, dbcore) run under the race detector; the mount
# and end-to-end packages run without it because they are dominated by
# kernel round trips and child processes, and -race would only slow them.
set -euo pipefail
cd "$(dirname "$0")/.."

# A test binary that panics never runs its cleanups: its in-process mounts
# stay behind, dead (their FUSE server died with it), and would pile up run
# after run. Unmount those, only under the temporary directory and only
# when they no longer answer: a live mount is someone's.
cleanup_dead_mounts() {
	local tmp="${TMPDIR:-/tmp}" mnt
	awk '$3 == "fuse.couchfs" { print $2 }' /proc/mounts | while read -r mnt; do
		mnt=$(printf '%b' "$mnt") # /proc/mounts writes a space as \040
		case "$mnt" in "$tmp"/*) ;; *) continue ;; esac
		if ! stat "$mnt" >/dev/null 2>&1; then
			echo "test.sh: unmounting $mnt, left dead by a crashed test" >&2
			umount -l "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
		fi
	done
}
trap cleanup_dead_mounts EXIT

./scripts/install-test-deps.sh
if [ "${CI:-}" = "true" ]; then
	export COUCHFS_REQUIRE_FUSE=1
fi

go vet ./...
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

core=$(go list ./engines/... ./dbcore/...)
rest=$(go list ./... | grep -v -e '/engines' -e '/dbcore')
go test -count=1 -timeout 8m -race $core
go test -count=1 -timeout 8m $rest
