// Package couchfile is CouchDB's storage engine rewritten in Go: name
// "couch", extension ".couch", one append-only file per database holding
// copy-on-write B+trees, in the manner of couch_file and couch_btree. The
// byte format is in docs/on-disk-format.md; the short of it:
//
//   - The file is 4 KiB blocks whose first byte says whether a header starts
//     there. Everything else is appended as checksummed (CRC32C) chunks:
//     document bodies, tree nodes, attachment data, the security object.
//     Bodies, nodes and attachment data are snappy-compressed when that
//     saves space; nodes holding revision trees first have their 32-hex-digit
//     revision IDs packed to 16 bytes.
//   - Six trees hold the database: doc ID → doc info (reducing to the doc
//     counts and sizes), update seq → doc ID (the changes feed), local docs,
//     purge infos by seq and by UUID, and attachment ID → location.
//   - A commit appends the changed nodes and a header that points to the new
//     roots and carries a CRC32C of everything written since the previous
//     header, and costs one fdatasync: a header whose data did not all reach
//     the disk fails that check and Open falls back to the previous one. A
//     commit of more than 16 MiB fdatasyncs its data before the header
//     instead (two fdatasyncs), so Open never re-reads more than that.
//   - The file keeps a tail of zeros, really written, past the newest
//     header: a commit writes into blocks already allocated, so its
//     fdatasync has no filesystem metadata to commit. A commit whose tail
//     fell below a chunk (an eighth of the file, 64 KiB to 8 MiB) writes
//     another chunk of zeros before its fdatasync. A compacted file starts
//     without one. SizeInfo.File is the append position, tail excluded.
//   - Open scans back from the end for the newest valid header and appends
//     right after it, over the zero tail and any commit that never
//     completed; the region checksums keep a stale header there from ever
//     being chosen. A file without a valid header is corrupt
//     (engines.ErrCorrupt), never an empty database.
//   - Compaction copies the live state into <name>.couch.compact while the
//     updater keeps writing, catches up, and renames the copy into place.
//
// # Goroutines
//
// A DB has one writer, dbcore's updater: WriteDocBody, WriteDocInfos,
// SetUpdateSeq, the setters, Commit, WriteAttachment and the compaction
// calls. Getters, reads, folds, OpenAttachment and Check run on any
// goroutine without waiting for it: a write publishes an immutable snapshot
// (tree roots and header fields) atomically, and a reader walks the snapshot
// it loaded, reading nodes from the append-only file or, for bytes not yet
// written, from the writer's buffer. A fold sees one snapshot from start to
// end.
//
// # Failures
//
// Any write or fsync error puts the DB in a read-only state: the file is cut
// back to the last durable header, reads answer that state, and writes fail
// with engines.ErrReadOnly until the database is reopened. All file access
// goes through the File interface of Options, which is how the tests inject
// failing writes and fsyncs.
package couchfile
