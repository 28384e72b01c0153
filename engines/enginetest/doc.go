// Package enginetest is the conformance suite every storage engine passes:
// a port of the engine-agnostic cases of CouchDB's couch_pse_tests, plus
// reopen checks after every case, a seeded differential test against
// memengine, a concurrency test, and the shared benchmarks.
//
// An engine's test calls Run with a constructor:
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, func(t *testing.T) engines.Engine { return myengine.New() })
//	}
//
// Each case gets a fresh database path inside t.TempDir. Merging revision
// trees is dbcore's job, not an engine's, so the suite builds the doc infos
// it writes with a small updater of its own (writer.go) that follows
// CouchDB's rules closely enough to produce realistic trees: extending the
// winner, tombstones, replicated conflicts, stemming, purges.
package enginetest
