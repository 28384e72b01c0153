package couchfile

import (
	"encoding/binary"
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// A B+tree node is the data of one chunk:
//
//	kind byte (nodeLeaf | nodeInterior) | count uvarint | count × entry
//	leaf entry:     key (uvarint length + bytes) | value (uvarint length + bytes)
//	interior entry: key (uvarint length + bytes) | child ref
//	ref:            ptr | count | del | active | external | size (uvarints)
//
// An interior entry's key is the last key of its child, so child i holds
// the keys in (key[i-1], key[i]]. A ref's reduction sums the child's
// entries; size sums the chunk sizes of the child and everything under it.
// Keys are compared as raw bytes.

const (
	nodeLeaf     = 1
	nodeInterior = 2
)

// reduction is what a subtree sums. count is its entries; del, active and
// external are meaningful in the id tree only (deleted documents and the
// documents' ActiveSize and ExternalSize), and active also in the
// attachment tree (stored bytes).
type reduction struct {
	count, del, active, external uint64
}

func (r reduction) add(o reduction) reduction {
	return reduction{r.count + o.count, r.del + o.del, r.active + o.active, r.external + o.external}
}

// ref points to a subtree; ptr 0 is the empty tree (offset 0 always holds
// the file's first header, never a node).
type ref struct {
	ptr  uint64
	red  reduction
	size uint64
}

// node is a decoded B+tree node. It is immutable once built: nodes are
// shared between the cache, snapshots and concurrent readers.
type node struct {
	leaf bool
	keys []string
	vals []string // leaf only
	kids []ref    // interior only
}

func (n *node) len() int { return len(n.keys) }

func appendRef(b []byte, r ref) []byte {
	for _, v := range [...]uint64{r.ptr, r.red.count, r.red.del, r.red.active, r.red.external, r.size} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func refLen(r ref) int {
	return uvarintLen(r.ptr) + uvarintLen(r.red.count) + uvarintLen(r.red.del) +
		uvarintLen(r.red.active) + uvarintLen(r.red.external) + uvarintLen(r.size)
}

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// entryLen is the encoded size of entry i.
func (n *node) entryLen(i int) int {
	if n.leaf {
		return strLen(n.keys[i]) + strLen(n.vals[i])
	}
	return strLen(n.keys[i]) + refLen(n.kids[i])
}

func encodeNode(dst []byte, n *node) []byte {
	kind := byte(nodeInterior)
	if n.leaf {
		kind = nodeLeaf
	}
	dst = append(dst, kind)
	dst = binary.AppendUvarint(dst, uint64(len(n.keys)))
	for i, k := range n.keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		if n.leaf {
			dst = binary.AppendUvarint(dst, uint64(len(n.vals[i])))
			dst = append(dst, n.vals[i]...)
		} else {
			dst = appendRef(dst, n.kids[i])
		}
	}
	return dst
}

// decodeNode decodes a node stored at ptr. Keys must ascend strictly, and
// children must lie before their parent: the file is append-only, so a
// pointer forward is corruption, and refusing it also rules out cycles.
func decodeNode(data []byte, ptr uint64) (*node, error) {
	s := string(data) // one copy; keys and values are substrings of it
	r := reader{b: data}
	kind := r.byte()
	count := r.count()
	if r.err != nil || (kind != nodeLeaf && kind != nodeInterior) || count == 0 {
		return nil, fmt.Errorf("node at %d: bad kind or count: %w", ptr, engines.ErrCorrupt)
	}
	n := &node{leaf: kind == nodeLeaf, keys: make([]string, count)}
	if n.leaf {
		n.vals = make([]string, count)
	} else {
		n.kids = make([]ref, count)
	}
	for i := 0; i < count && r.err == nil; i++ {
		n.keys[i] = r.str(s, len(data))
		if n.leaf {
			n.vals[i] = r.str(s, len(data))
			continue
		}
		n.kids[i] = r.ref()
		if k := n.kids[i].ptr; k == 0 || k >= ptr {
			return nil, fmt.Errorf("node at %d: child pointer %d: %w", ptr, k, engines.ErrCorrupt)
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, fmt.Errorf("node at %d: malformed: %w", ptr, engines.ErrCorrupt)
	}
	for i := 1; i < count; i++ {
		if n.keys[i-1] >= n.keys[i] {
			return nil, fmt.Errorf("node at %d: keys out of order: %w", ptr, engines.ErrCorrupt)
		}
	}
	return n, nil
}

// reader decodes the primitives of nodes and headers; the first failure
// sticks in err and later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = engines.ErrCorrupt
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uint32() uint32 {
	if len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// count reads a count of elements that take at least one byte each.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.count()
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// str reads a length-prefixed string as a substring of s, the string form
// of the whole buffer of total bytes that r.b is a suffix of.
func (r *reader) str(s string, total int) string {
	n := r.count()
	off := total - len(r.b)
	r.b = r.b[n:]
	return s[off : off+n]
}

func (r *reader) ref() ref {
	return ref{
		ptr:  r.uvarint(),
		red:  reduction{count: r.uvarint(), del: r.uvarint(), active: r.uvarint(), external: r.uvarint()},
		size: r.uvarint(),
	}
}
