package dbcore

import "errors"

// Sentinel errors. dbcore always returns them wrapped with a message that
// names the database or document; test them with errors.Is. Errors from the
// engine (engines.ErrCorrupt and friends) are passed through wrapped.
var (
	// ErrNotFound: the document or local document does not exist, or (for
	// Get) its winning revision is deleted.
	ErrNotFound = errors.New("not found")
	// ErrDBNotFound: no database of that name exists.
	ErrDBNotFound = errors.New("database does not exist")
	// ErrDBExists: a database of that name already exists.
	ErrDBExists = errors.New("database already exists")
	// ErrEngineConflict: the name exists under another engine than the one
	// asked for, or under several. It also matches ErrDBExists when
	// returned by CreateDB.
	ErrEngineConflict = errors.New("database exists under another engine")
	// ErrInvalidDBName: the name breaks CouchDB's rule ^[a-z][a-z0-9_$()+/-]*$.
	ErrInvalidDBName = errors.New("invalid database name")
	// ErrUnknownEngine: no engine of that name is configured.
	ErrUnknownEngine = errors.New("unknown storage engine")
	// ErrInvalidDoc: the document is not acceptable: bad JSON, not an
	// object, bad UTF-8, duplicate keys, nested too deeply, a forbidden
	// "_" field, an invalid id, an _id that differs from the file's, or a
	// malformed revision.
	ErrInvalidDoc = errors.New("invalid document")
	// ErrConflict: the update does not extend a current leaf revision: a
	// missing or stale _rev, a create of a live document, a delete of a
	// deleted one.
	ErrConflict = errors.New("document update conflict")
	// ErrTooLarge: the document is larger than Options.MaxDocumentSize.
	ErrTooLarge = errors.New("document too large")
	// ErrNotEmpty: DeleteDB with onlyIfEmpty on a database holding
	// documents or local documents.
	ErrNotEmpty = errors.New("database is not empty")
	// ErrLocked: another process has the data directory open.
	ErrLocked = errors.New("data directory is locked")
	// ErrReadOnly: the server was opened read-only, or the engine refuses
	// writes after a storage failure.
	ErrReadOnly = errors.New("read-only")
	// ErrClosed: the server or handle is closed.
	ErrClosed = errors.New("closed")
	// ErrUnavailable: the database is being reopened after a storage
	// failure, or its reopen failed (the next write retries it). Writes
	// fail with it until the reopen succeeds, wrapping the failure's errno
	// (ENOSPC for a full disk) since they meet the failure themselves.
	// Reads meanwhile go to a read-only stand-in where the engine has one
	// (engines.ReadOnlyOpener); without one they fail with it too, without
	// the errno: a read did not itself run out of space.
	ErrUnavailable = errors.New("database unavailable after a storage failure")
	// ErrInvalidArgument: a bad _revs_limit, _security or _purge value, or
	// another malformed request.
	ErrInvalidArgument = errors.New("invalid argument")
)
