package dbcore

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxDBNameLen bounds database names so that <name>.<ext> and an engine's
// compaction files fit in a 255-byte file name.
const MaxDBNameLen = 238

// ValidateDBName checks name against CouchDB's rule ^[a-z][a-z0-9_$()+/-]*$.
// A '/' makes a subdirectory of the data directory, so empty path segments
// ("a//b", "a/") are refused too. Dots are never allowed, which keeps
// "<name>.<ext>" unambiguous.
func ValidateDBName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidDBName)
	}
	if len(name) > MaxDBNameLen {
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrInvalidDBName, name, MaxDBNameLen)
	}
	if c := name[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%w: %q must start with a lowercase letter", ErrInvalidDBName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("_$()+-", c) >= 0:
		case c == '/':
			if i+1 == len(name) || name[i+1] == '/' {
				return fmt.Errorf("%w: %q has an empty path segment", ErrInvalidDBName, name)
			}
		default:
			return fmt.Errorf("%w: %q: only a-z, 0-9 and _$()+-/ are allowed", ErrInvalidDBName, name)
		}
	}
	return nil
}

// Reserved id prefixes: design documents are ordinary documents with a
// prefixed id; local documents live apart (no revision tree, no changes).
const (
	DesignPrefix = "_design/"
	LocalPrefix  = "_local/"
)

// ValidateDocID checks a document id as CouchDB does: non-empty valid
// UTF-8, and an id starting with '_' must be "_design/<name>" or
// "_local/<name>" with a non-empty name.
func ValidateDocID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty document id", ErrInvalidDoc)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: document id %q is not valid UTF-8", ErrInvalidDoc, id)
	}
	if strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("%w: document id %q contains a NUL byte", ErrInvalidDoc, id)
	}
	if id[0] == '_' {
		for _, p := range []string{DesignPrefix, LocalPrefix} {
			if strings.HasPrefix(id, p) && len(id) > len(p) {
				return nil
			}
		}
		return fmt.Errorf("%w: document id %q: only reserved document ids (_design/…, _local/…) may start with an underscore", ErrInvalidDoc, id)
	}
	return nil
}

// isLocal reports whether id names a local document.
func isLocal(id string) bool { return strings.HasPrefix(id, LocalPrefix) }
