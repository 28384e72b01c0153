// Package engines defines the storage-engine contract of couchfs: CouchDB's
// couch_db_engine behaviour expressed as Go interfaces, plus the value types
// that cross it.
//
// An engine stores; the updater decides. Everything that needs judgement —
// merging revision trees, choosing winners, assigning update sequences,
// stemming — happens in dbcore before a call reaches an engine. An engine
// persists what it is given, atomically, and answers reads and folds.
//
// Like database/sql/driver, this package imports nothing from the rest of the
// project, so an engine can be written, tested and benchmarked on its own with
// the conformance suite in engines/enginetest.
//
// # Goroutines
//
// Each DB has exactly one writer goroutine, dbcore's updater. Methods
// documented as "updater only" must be called from that goroutine alone and
// never concurrently with each other. Getters, reads and folds may be called
// from any goroutine at any time, concurrently with the updater; they observe
// the state as of the last Commit (or a later one), never a half-applied
// write. Close is called once, after every other call has returned.
//
// # Optional capabilities
//
// Features not every engine has are small interfaces found by type assertion
// on a DB: Compacter, AttachmentStreamer and Checker.
package engines
