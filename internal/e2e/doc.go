// Package e2e holds couchfs's end-to-end reliability tests: the built
// couchfs binary mounted over a data directory and killed at random moments
// (crash recovery), a data directory on a tiny tmpfs (full disk), storage
// faults injected below each engine (failing fsync, failing and short
// writes, ENOSPC) under a dbcore server and under an in-process mount,
// malformed input through an in-process mount, and a fixed-time load run
// that checks reads never mix revisions and that file descriptors,
// goroutines and memory stay flat.
//
// Everything lives in _test.go files; this file only names the package so
// that `go build ./...` and `go vet ./...` see it. docs/reliability.md maps
// each guarantee to the test that proves it.
//
// Environment:
//
//	COUCHFS_REQUIRE_FUSE=1   fail instead of skipping when /dev/fuse is missing
//	COUCHFS_CRASH_SEED=N     replay the crash test with seed N (printed on every run)
//	COUCHFS_CRASH_ROUNDS=N   kill-and-recover rounds per engine (default 3)
//	COUCHFS_LOAD_SECONDS=N   duration of the load test (default 5)
package e2e
