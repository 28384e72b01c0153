// Package pebble is the "pebble" storage engine: each database is a
// directory "<name>.pebble" holding a Pebble key-value store
// (github.com/cockroachdb/pebble/v2). It implements engines.Engine, and its
// databases implement engines.DB, engines.Compacter and engines.Checker.
//
// # Layout
//
// The directory holds a GENERATION file naming the live generation N and
// the Pebble database gen-N/. One key space with one-byte prefixes keeps
// doc infos by ID, the changes index (update sequence → doc info), local docs,
// bodies by pointer (a counter), purge infos by purge sequence and by UUID,
// and one state record (sequences, counters, sizes, limits, security, UUID,
// next body pointer) that is rewritten in the same batch as every change.
// Records use the shared codec of package engines. Bodies of 256 bytes or
// more move into Pebble's blob files when their memtable is flushed (value
// separation), so compactions rewrite only the small records; tables are
// cut at prefix boundaries, so an append-mostly load's tables move down the
// tree without being rewritten.
//
// # Memory
//
// Pebble charges a database's memtables (up to three of MemTableSize)
// against its block cache. The engine adds that budget to a database's own
// cache, and grants it to a shared cache for as long as the database is
// open, so the cache size is what is left for blocks.
//
// # Durability
//
// Commit and the setters write one batch with Pebble's WAL sync; the engine
// does no fsync of its own besides directory syncs for Create, Delete and
// the compaction switch. A failed sync makes the database refuse writes with
// engines.ErrReadOnly until it is reopened. Pebble treats a failed MANIFEST
// write during a background flush as fatal and panics, as its default
// logger would exit.
//
// # Compaction
//
// Compaction copies the live state into gen-(N+1) while writes continue and
// switches by rewriting GENERATION atomically; readers still on gen-N finish
// there, and gen-N is removed when the last of them returns (or at the next
// Open, after a crash).
package pebble
