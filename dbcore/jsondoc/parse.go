package jsondoc

import (
	"bytes"
	"fmt"
	"sync"
)

// Default limits, CouchDB's max_document_size and a nesting bound far above
// any real document.
const (
	DefaultMaxSize  = 8 << 20
	DefaultMaxDepth = 512
)

// Limits bounds what Parse accepts. A zero field takes its default.
type Limits struct {
	MaxSize  int // bytes of input; default DefaultMaxSize
	MaxDepth int // nesting of objects and arrays, the document itself is 1; default DefaultMaxDepth
}

// Parsed is a document split into its special fields and its body.
type Parsed struct {
	ID    string // _id, unescaped
	HasID bool
	Rev   string // _rev, unescaped, not checked for rev syntax
	// HasRev is set when _rev is present.
	HasRev  bool
	Deleted bool // _deleted:true

	// RevisionsStart and RevisionsIDs are _revisions {"start":N,"ids":[…]};
	// Parse guarantees 1 <= len(RevisionsIDs) <= RevisionsStart and that
	// every id is non-empty.
	RevisionsStart uint64
	RevisionsIDs   []string
	HasRevisions   bool

	// Body is a compact JSON object of the fields not starting with '_', in
	// input order, without insignificant whitespace. Keys and strings are
	// copied byte for byte as given, escapes included (they are valid JSON
	// and valid UTF-8, so re-emitting them unchanged is exact); numbers are
	// kept as written. When data is exactly that object (no special
	// field, no whitespace to drop), Body is data itself, not a copy.
	Body []byte
}

// Parse validates data as a CouchDB document and splits it. Syntax errors
// (ErrSyntax, ErrTooDeep) are reported first; otherwise the first of the
// other problems in input order. Errors are *Error values wrapping the
// sentinels of this package.
func Parse(data []byte, lim Limits) (*Parsed, error) {
	if lim.MaxSize <= 0 {
		lim.MaxSize = DefaultMaxSize
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	if len(data) > lim.MaxSize {
		return nil, &Error{Kind: ErrTooLarge, Offset: lim.MaxSize,
			Detail: fmt.Sprintf("%d bytes, limit %d", len(data), lim.MaxSize)}
	}
	p := parser{data: data, maxDepth: lim.MaxDepth}
	keys := keysPool.Get().(*[][]byte)
	p.keys = (*keys)[:0]
	doc, err := p.document()
	// The keys point into data: cleared, so the pool keeps no document.
	clear(p.keys[:cap(p.keys)])
	if cap(p.keys) <= maxPooledKeys {
		*keys = p.keys[:0]
		keysPool.Put(keys)
	}
	if err != nil {
		return nil, err
	}
	if p.deferred != nil {
		return nil, p.deferred
	}
	return doc, nil
}

// keysPool holds parsers' key stacks: a fresh one per Parse was a third of
// the time of parsing a 1 KB document, most of it in the allocator and the
// garbage collector (it is a slice of pointers).
var keysPool = sync.Pool{New: func() any {
	s := make([][]byte, 0, 32)
	return &s
}}

// maxPooledKeys bounds the key stacks kept: a document with thousands of
// nested or sibling keys does not pin its stack in the pool.
const maxPooledKeys = 1024

// parser is one Parse call's state.
type parser struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
	out      []byte   // the body being built
	keys     [][]byte // unescaped keys of the open objects, innermost last
	deferred *Error   // first non-syntax problem, reported if the syntax is fine
}

// document parses the top-level object.
func (p *parser) document() (*Parsed, error) {
	p.skipWS()
	if p.pos >= len(p.data) {
		return nil, p.syntax(p.pos, "empty input")
	}
	if p.data[p.pos] != '{' {
		start := p.pos
		if err := p.value(false); err != nil {
			return nil, err
		}
		if err := p.end(); err != nil {
			return nil, err
		}
		return nil, &Error{Kind: ErrNotObject, Offset: start, Detail: "top-level value is not an object"}
	}
	doc := &Parsed{}
	p.out = getOut(len(p.data))
	p.out = append(p.out, '{')
	p.depth = 1
	p.pos++
	frame := len(p.keys)
	var seen map[string]struct{}
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
	} else {
		for {
			p.skipWS()
			keyOff := p.pos
			key, raw, err := p.key(frame, &seen)
			if err != nil {
				return nil, err
			}
			valOff := p.pos
			if len(key) > 0 && key[0] == '_' {
				if err := p.special(doc, string(key), keyOff, valOff); err != nil {
					return nil, err
				}
			} else {
				if len(p.out) > 1 {
					p.out = append(p.out, ',')
				}
				p.out = append(p.out, raw...)
				p.out = append(p.out, ':')
				if err := p.value(true); err != nil {
					return nil, err
				}
			}
			done, err := p.next('}')
			if err != nil {
				return nil, err
			}
			if done {
				break
			}
		}
	}
	p.keys = p.keys[:frame]
	p.out = append(p.out, '}')
	if err := p.end(); err != nil {
		return nil, err
	}
	doc.Body = p.out
	if bytes.Equal(p.out, p.data) {
		// The usual document from a program: nothing to drop, so the
		// copy goes back to the pool and the body is data. A bulk load
		// allocated a copy of every body, a third of what it allocates.
		doc.Body = p.data
		putOut(p.out)
	}
	p.out = nil
	return doc, nil
}

// outPool holds body buffers that Parse did not hand out.
var outPool sync.Pool

// maxPooledOut bounds the buffers outPool keeps, so a huge document does
// not pin its buffer.
const maxPooledOut = 64 << 10

// getOut returns an empty buffer of capacity at least n.
func getOut(n int) []byte {
	if b, ok := outPool.Get().(*[]byte); ok {
		if cap(*b) >= n {
			return (*b)[:0]
		}
		outPool.Put(b)
	}
	return make([]byte, 0, n)
}

func putOut(b []byte) {
	if cap(b) <= maxPooledOut {
		outPool.Put(&b)
	}
}

// special handles a top-level field whose key starts with '_'.
func (p *parser) special(doc *Parsed, key string, keyOff, valOff int) error {
	start := p.pos
	if err := p.value(false); err != nil {
		return err
	}
	raw := p.data[start:p.pos]
	switch key {
	case "_id", "_rev":
		if raw[0] != '"' {
			p.note(ErrBadField, valOff, "%s must be a string", key)
			return nil
		}
		s := rawString(raw)
		if key == "_id" {
			doc.ID, doc.HasID = s, true
		} else {
			doc.Rev, doc.HasRev = s, true
		}
	case "_deleted":
		switch string(raw) {
		case "true":
			doc.Deleted = true
		case "false":
		default:
			p.note(ErrBadField, valOff, "_deleted must be true or false")
		}
	case "_revisions":
		start, ids, msg := revisions(raw)
		if msg != "" {
			p.note(ErrBadField, valOff, "_revisions: %s", msg)
			return nil
		}
		doc.RevisionsStart, doc.RevisionsIDs, doc.HasRevisions = start, ids, true
	case "_attachments":
		p.note(ErrForbiddenField, keyOff, "_attachments are not supported")
	case "_conflicts", "_deleted_conflicts", "_local_seq", "_revs_info":
		p.note(ErrForbiddenField, keyOff, "%s is read-only metadata and cannot be written", key)
	default:
		p.note(ErrForbiddenField, keyOff, "unknown special field %q: only _id, _rev, _deleted and _revisions may start with '_'", key)
	}
	return nil
}
