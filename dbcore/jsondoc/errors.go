package jsondoc

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by Parse, always inside an *Error that adds the
// byte offset and detail; test them with errors.Is.
var (
	// ErrSyntax reports text that is not JSON, including trailing garbage
	// after the top-level value.
	ErrSyntax = errors.New("invalid JSON")
	// ErrNotObject reports valid JSON whose top-level value is not an object.
	ErrNotObject = errors.New("document is not a JSON object")
	// ErrInvalidUTF8 reports a string with bytes that are not UTF-8, or a
	// \u escape that is a lone surrogate.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrDuplicateKey reports an object, at any depth, naming a key twice
	// (keys compared after unescaping).
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrTooDeep reports objects and arrays nested deeper than
	// Limits.MaxDepth.
	ErrTooDeep = errors.New("document nested too deeply")
	// ErrTooLarge reports input longer than Limits.MaxSize.
	ErrTooLarge = errors.New("document too large")
	// ErrForbiddenField reports a top-level field starting with '_' other
	// than _id, _rev, _deleted and _revisions.
	ErrForbiddenField = errors.New("forbidden special field")
	// ErrBadField reports _id, _rev, _deleted or _revisions with a value of
	// the wrong type or shape.
	ErrBadField = errors.New("bad special field")
)

// Error is the error Parse returns: Kind is one of the sentinels above,
// Offset the byte offset in the input where the problem was found.
type Error struct {
	Kind   error
	Offset int
	Detail string
}

// Error renders "<kind> at byte <offset>: <detail>".
func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v at byte %d", e.Kind, e.Offset)
	}
	return fmt.Sprintf("%v at byte %d: %s", e.Kind, e.Offset, e.Detail)
}

// Unwrap returns Kind, so errors.Is(err, ErrSyntax) and friends work.
func (e *Error) Unwrap() error { return e.Kind }
