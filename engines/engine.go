package engines

import "io"

// Engine opens and manages databases of one storage format. A database is
// the file or directory at path "<dir>/<name><Ext()>"; every path argument is
// that full path. An Engine is safe for concurrent use; dbcore serializes the
// lifecycle calls for any one path.
type Engine interface {
	// Name is the engine's short name, used in settings and in _info
	// ("couch", "pebble", "mem").
	Name() string
	// Ext is the file extension that selects this engine, with its dot.
	Ext() string
	// Exists reports whether a database (or only its compaction
	// leftovers — then false) is at path.
	Exists(path string) (bool, error)
	// Create makes a new empty database at path and opens it. It fails with
	// ErrExists if one is there. A successful Create is durable.
	Create(path string) (DB, error)
	// Open opens the database at path. It fails with ErrNotFound if there
	// is none: Open never creates. Leftovers of an interrupted compaction
	// are removed or resumed here.
	Open(path string) (DB, error)
	// Delete removes the database at path and every compaction leftover.
	// It fails with ErrNotFound if there is neither. The database must be
	// closed. Delete is crash-safe: an interrupted Delete leaves either the
	// database or nothing Open would accept.
	Delete(path string) error
}

// DB is one open database. See the package documentation for which
// goroutine may call what.
type DB interface {
	// Getters: any goroutine. They reflect the last Commit or setter.

	UpdateSeq() uint64
	PurgeSeq() uint64
	DocCount() uint64    // documents whose winning revision is not deleted
	DelDocCount() uint64 // documents whose winning revision is deleted
	RevsLimit() uint64   // default 1000
	PurgeInfosLimit() uint64
	Security() []byte // JSON object; default "{}"
	UUID() string     // 32 hex digits, fixed at Create
	SizeInfo() SizeInfo

	// Setters: updater only. Durable on return. SetRevsLimit and
	// SetSecurity do not change UpdateSeq themselves; dbcore bumps it with
	// SetUpdateSeq in the same durable step when CouchDB's rules say so.

	SetRevsLimit(n uint64) error
	SetPurgeInfosLimit(n uint64) error
	SetSecurity(obj []byte) error

	// Reads: any goroutine.

	// OpenDocs returns the doc infos for ids in input order, nil where a
	// document does not exist.
	OpenDocs(ids []string) ([]*DocInfo, error)
	// OpenLocalDocs returns local docs for ids in input order, nil where
	// missing.
	OpenLocalDocs(ids []string) ([]*LocalDoc, error)
	// ReadDocBody returns the JSON body that WriteDocBody stored at ptr.
	// The caller owns the returned slice.
	ReadDocBody(ptr uint64) ([]byte, error)

	// Writes: updater only.

	// WriteDocBody stores a body and returns its pointer and its active
	// (stored) size. The body becomes durable with the next Commit; it is
	// only reachable through a doc info written by WriteDocInfos.
	WriteDocBody(body []byte) (ptr uint64, activeSize uint64, err error)
	// WriteDocInfos applies document changes, local document writes and
	// purge infos as one atomic unit, visible to reads at once and durable
	// after Commit. UpdateSeq becomes the highest of its current value and
	// every New.UpdateSeq; PurgeSeq the highest PurgeInfo.Seq. Doc counts
	// follow the pairs. Old must equal what is stored (nil for a new doc),
	// else ErrInvalidWrite and nothing is applied; so too when an ID comes
	// twice or two docs would hold one UpdateSeq after the write. The
	// caller must not modify a DocInfo once it has passed it as New: an
	// engine may recognise it when it comes back as Old (see LastWritten)
	// instead of comparing it with what is stored.
	WriteDocInfos(pairs []DocInfoPair, locals []LocalDoc, purges []PurgeInfo) error
	// SetUpdateSeq raises UpdateSeq to seq (never lowers it), as part of the
	// next Commit or setter.
	SetUpdateSeq(seq uint64) error
	// Commit makes everything written so far durable. When Commit returns
	// nil, a crash cannot lose it. After a failed Commit the engine may
	// refuse further writes with ErrReadOnly until reopened.
	Commit() error

	// Folds: any goroutine. Each fold sees one consistent state. fn may
	// return ErrStopFold to stop early (the fold then returns nil); any
	// other error ends the fold and is returned. fn must not retain the
	// argument past its return unless documented otherwise.

	// FoldDocs visits doc infos in ID order within opts.
	FoldDocs(opts FoldOptions, fn func(*DocInfo) error) error
	// FoldLocalDocs visits local docs in ID order within opts.
	FoldLocalDocs(opts FoldOptions, fn func(*LocalDoc) error) error
	// FoldChanges visits every document whose UpdateSeq > since, once, in
	// ascending UpdateSeq order. Its doc infos are those OpenDocs gives,
	// except that the RevTree may hold only the tree's leaves, each a
	// branch of its own at its position: enough for a changes row (winner,
	// conflicts, deletion), and an engine need not store a long history
	// twice.
	FoldChanges(since uint64, fn func(*DocInfo) error) error
	// FoldPurgeInfos visits purge infos with Seq > since in ascending Seq
	// order. Only infos newer than PurgeSeq-PurgeInfosLimit are guaranteed
	// to remain after a compaction.
	FoldPurgeInfos(since uint64, fn func(PurgeInfo) error) error
	// CountChangesSince returns how many documents FoldChanges(since)
	// would visit.
	CountChangesSince(since uint64) (uint64, error)

	// Close releases the database. Uncommitted writes are discarded.
	Close() error
}

// Compacter is implemented by engines that can compact a database while
// writes continue.
type Compacter interface {
	// StartCompaction begins copying the live state to a new file or
	// directory in the background. Updater only. It fails with
	// ErrCompactionRunning if one is already running.
	StartCompaction() (Compaction, error)
}

// Compaction is a running compaction.
type Compaction interface {
	// Done is closed when the copy has caught up and Finish may be called,
	// or when the compaction failed (then Err is non-nil).
	Done() <-chan struct{}
	// Err reports why the compaction failed, after Done.
	Err() error
	// Progress reports the fraction of the work done so far, 0 to 1. Any
	// goroutine.
	Progress() float64
	// Finish copies the writes made since the copy caught up and swaps the
	// compacted database in atomically. Updater only, after Done with a
	// nil Err. Writes committed before Finish are all kept. After Finish,
	// purge infos older than PurgeSeq-PurgeInfosLimit and bodies of
	// non-leaf revisions are gone.
	Finish() error
	// Cancel stops the compaction and removes its files. Updater only.
	Cancel() error
}

// AttachmentStreamer is implemented by engines that store attachment data
// as streams apart from document bodies.
type AttachmentStreamer interface {
	// WriteAttachment stores the data read from r and returns a pointer to
	// it. It becomes durable with the next Commit. Updater only.
	WriteAttachment(r io.Reader) (ptr uint64, size uint64, err error)
	// OpenAttachment returns a reader of the data stored at ptr. Any
	// goroutine.
	OpenAttachment(ptr uint64) (io.ReadCloser, error)
}

// Checker is implemented by engines that can verify their stored structures:
// checksums, ordering, counters and reductions. Tests call it after every
// conformance case; "couchfs check" runs it on demand.
type Checker interface {
	// Check walks every structure and returns an error wrapping ErrCorrupt
	// at the first inconsistency. Any goroutine.
	Check() error
}
