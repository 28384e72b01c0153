// Package dbcore is the database server of couchfs: CouchDB's couch_server
// (which databases exist, which engine holds each, which are open) and
// couch_db_updater (the one goroutine per database that owns every write).
//
// Everything the filesystem does goes through a *Server and the *DB handles
// it hands out. dbcore holds every rule about documents: revision trees are
// merged and stemmed here (dbcore/revtree), document bodies are validated
// and rendered here (dbcore/jsondoc), and update sequences are assigned here.
// Engines only store what they are given.
//
// # Writes: one updater per database, group commit
//
// Each open database has an updater goroutine. Writers (UpdateDocs, SaveJSON,
// DeleteDoc, MoveDoc, Purge, SetSecurity, SetRevsLimit) validate and parse
// their input on their own goroutine, then queue a request. The updater
// takes every request waiting in its queue, merges all their documents into
// their revision trees in one pass, assigns update sequences in document-id
// order, writes the doc infos once and commits once: one fsync for the whole
// group. Only then does it answer each writer, so a write that returned
// without error survives a crash.
//
// # Reads
//
// Reads (Get, Changes, AllDocs, Info, …) go straight to the engine from the
// caller's goroutine, concurrently with the updater and with each other.
//
// # Goroutines
//
// Every exported method of Server, DB and Subscription may be called from any
// goroutine at any time, except that nothing may be called on a Server after
// Close, nor on a DB after its Close.
package dbcore
