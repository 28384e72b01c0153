package engines

import "errors"

// Sentinel errors. Engines wrap them with %w so callers can test with
// errors.Is while the message keeps the detail (path, offset, key).
var (
	// ErrNotFound reports that a database does not exist (Open, Delete).
	ErrNotFound = errors.New("database does not exist")
	// ErrExists reports that Create found the database already present.
	ErrExists = errors.New("database already exists")
	// ErrCorrupt reports stored data that fails its checks: a bad checksum,
	// an undecodable record, a file whose headers are all invalid. An engine
	// never answers corrupt data silently.
	ErrCorrupt = errors.New("database is corrupt")
	// ErrClosed reports a call on a closed DB.
	ErrClosed = errors.New("database is closed")
	// ErrInvalidWrite reports a write that breaks the contract (for example a
	// doc-info pair whose Old does not match what is stored). It indicates a
	// bug in the caller, and nothing of the write is applied.
	ErrInvalidWrite = errors.New("invalid engine write")
	// ErrStopFold may be returned by a fold callback to end the fold early.
	// The fold then returns nil.
	ErrStopFold = errors.New("stop fold")
	// ErrCompactionRunning reports StartCompaction while one is running.
	ErrCompactionRunning = errors.New("compaction already running")
	// ErrReadOnly reports that the storage refuses writes, for example
	// after a failed fsync left the on-disk state unknown; reopen the
	// database to continue.
	ErrReadOnly = errors.New("database refuses writes until reopened")
	// ErrRolledBack reports a read that met state a failed write or commit
	// discarded while the read ran: an engine that shows a group's writes
	// before its commit cuts them off when the commit fails. What the
	// engine shows now is the committed state, and reading again reads it
	// (a fold may already have passed rows of the discarded state to its
	// callback). An engine that never shows uncommitted state never returns
	// it.
	ErrRolledBack = errors.New("read met writes a failed commit discarded")
)
