package revtree

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/couchfs/couchfs/engines"
)

// ErrBadRev reports a revision string that is not "N-id" with N a decimal
// number and id non-empty. ParseRev wraps it with the offending text.
var ErrBadRev = errors.New("invalid revision")

// ParseRev parses CouchDB's "Pos-ID" notation: Pos is one or more decimal
// digits (no sign; leading zeros accepted, as CouchDB's list_to_integer does)
// that fit in a uint64, then the first '-', then a non-empty ID which may
// itself contain '-'. Errors wrap ErrBadRev.
func ParseRev(s string) (engines.Rev, error) {
	dash := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			dash = i
			break
		}
		if s[i] < '0' || s[i] > '9' {
			return engines.Rev{}, fmt.Errorf("%w %q: position must be decimal digits", ErrBadRev, s)
		}
	}
	if dash <= 0 {
		return engines.Rev{}, fmt.Errorf("%w %q: want \"N-id\"", ErrBadRev, s)
	}
	if dash == len(s)-1 {
		return engines.Rev{}, fmt.Errorf("%w %q: empty revision id", ErrBadRev, s)
	}
	pos, err := strconv.ParseUint(s[:dash], 10, 64)
	if err != nil {
		return engines.Rev{}, fmt.Errorf("%w %q: position out of range", ErrBadRev, s)
	}
	return engines.Rev{Pos: pos, ID: s[dash+1:]}, nil
}

// FormatRev renders r as "Pos-ID", the inverse of ParseRev.
func FormatRev(r engines.Rev) string {
	// Built on the stack so that the string is the only allocation.
	var a [64]byte
	buf := strconv.AppendUint(a[:0], r.Pos, 10)
	buf = append(buf, '-')
	buf = append(buf, r.ID...)
	return string(buf)
}

// NewRevID computes the id of a new revision: 32 lowercase hex digits, the
// first 16 bytes of the SHA-256 of this encoding (CouchDB takes the MD5 of
// the Erlang term of the same fields, couch_db:new_revid; couchfs defines
// its own so no ETF encoder is needed, and SHA-256 because with the CPU's
// SHA instructions it hashes a 1 KB body in half MD5's time, which every
// save pays):
//
//	1 byte              1 if the revision is a deletion, else 0
//	8 bytes big-endian  parent.Pos (0 for a document's first revision)
//	4 bytes big-endian  len(parent.ID), then parent.ID ("" for a first revision)
//	the rest            body, the compact JSON object without _id/_rev/_deleted
//
// The same edit of the same parent therefore gets the same id on every
// replica running couchfs.
func NewRevID(deleted bool, parent engines.Rev, body []byte) string {
	var hdr [13]byte
	if deleted {
		hdr[0] = 1
	}
	binary.BigEndian.PutUint64(hdr[1:9], parent.Pos)
	binary.BigEndian.PutUint32(hdr[9:13], uint32(len(parent.ID)))
	h := sha256.New()
	h.Write(hdr[:])
	h.Write([]byte(parent.ID))
	h.Write(body)
	var sum [sha256.Size]byte
	var id [32]byte
	hex.Encode(id[:], h.Sum(sum[:0])[:16])
	return string(id[:])
}
