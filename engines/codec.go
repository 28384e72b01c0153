package engines

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
)

// The codec gives every engine one byte encoding of the value types, so that
// engines agree on it and it is fuzzed once. The encodings are versioned by a
// leading byte; decoders reject anything they did not produce with an error
// wrapping ErrCorrupt, and never panic.

const (
	docInfoV1   = 1
	localDocV1  = 1
	purgeInfoV1 = 1
)

// maxTreeDepth bounds decoding recursion; revs_limit is far lower in practice,
// but replicated trees are stored as given.
const maxTreeDepth = 1 << 16

// AppendDocInfo appends the encoding of di to buf.
func AppendDocInfo(buf []byte, di *DocInfo) []byte {
	// Without room to spare, one growth up front: appending a deep
	// history would copy it several times over. A caller reusing a buffer
	// has room and is spared the extra walk of the tree.
	if cap(buf)-len(buf) < 1024 {
		buf = slices.Grow(buf, docInfoLen(di))
	}
	buf = append(buf, docInfoV1)
	buf = appendString(buf, di.ID)
	buf = binary.AppendUvarint(buf, di.UpdateSeq)
	buf = appendBool(buf, di.Deleted)
	buf = binary.AppendUvarint(buf, di.ActiveSize)
	buf = binary.AppendUvarint(buf, di.ExternalSize)
	buf = binary.AppendUvarint(buf, uint64(len(di.RevTree)))
	for _, b := range di.RevTree {
		buf = binary.AppendUvarint(buf, b.Start)
		buf = appendNode(buf, b.Root)
	}
	return buf
}

// docInfoLen is the length of di's encoding.
func docInfoLen(di *DocInfo) int {
	n := 1 + strLen(di.ID) + uvarintLen(di.UpdateSeq) + 1 + uvarintLen(di.ActiveSize) +
		uvarintLen(di.ExternalSize) + uvarintLen(uint64(len(di.RevTree)))
	var small [16]*RevNode
	for _, b := range di.RevTree {
		n += uvarintLen(b.Start)
		stack := append(small[:0], b.Root)
		for len(stack) > 0 {
			nd := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			// A linear run is walked without the stack.
			for {
				n += strLen(nd.ID) + 1 + uvarintLen(uint64(len(nd.Children)))
				if v := nd.Value; v != nil {
					n += uvarintLen(v.Ptr) + uvarintLen(v.Seq) + uvarintLen(v.Size)
				}
				if len(nd.Children) != 1 {
					break
				}
				nd = nd.Children[0]
			}
			stack = append(stack, nd.Children...)
		}
	}
	return n
}

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// appendNode writes the tree in pre-order iteratively so that deep (long
// linear) histories do not grow the Go stack; a linear run is written
// without the stack.
func appendNode(buf []byte, root *RevNode) []byte {
	var small [16]*RevNode
	stack := append(small[:0], root)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for {
			buf = binary.AppendUvarint(buf, uint64(len(n.ID)))
			buf = append(buf, n.ID...)
			if v := n.Value; v == nil {
				buf = append(buf, 0)
			} else {
				flags := byte(1)
				if v.Deleted {
					flags |= 2
				}
				buf = append(buf, flags)
				buf = binary.AppendUvarint(buf, v.Ptr)
				buf = binary.AppendUvarint(buf, v.Seq)
				buf = binary.AppendUvarint(buf, v.Size)
			}
			buf = binary.AppendUvarint(buf, uint64(len(n.Children)))
			if len(n.Children) != 1 {
				break
			}
			n = n.Children[0]
		}
		for i := len(n.Children) - 1; i >= 0; i-- {
			stack = append(stack, n.Children[i])
		}
	}
	return buf
}

// DecodeDocInfo decodes what AppendDocInfo produced. The revision tree is
// built from a few large allocations (see decoder.node), so a caller that
// keeps any node of it keeps the whole tree's memory.
func DecodeDocInfo(b []byte) (*DocInfo, error) {
	d := decoder{b: b}
	if v := d.byte(); v != docInfoV1 && d.err == nil {
		return nil, fmt.Errorf("doc info: version %d: %w", v, ErrCorrupt)
	}
	di := &DocInfo{}
	di.ID = d.string()
	di.UpdateSeq = d.uvarint()
	di.Deleted = d.bool()
	di.ActiveSize = d.uvarint()
	di.ExternalSize = d.uvarint()
	nb := d.count()
	if nb > 0 {
		di.RevTree = make(RevTree, 0, nb)
		// Revision ids become substrings of one copy of the tree's bytes;
		// the document id above has its own, since callers keep ids alone.
		d.src = string(d.b)
	}
	for i := 0; i < nb && d.err == nil; i++ {
		start := d.uvarint()
		root := d.node()
		di.RevTree = append(di.RevTree, RevBranch{Start: start, Root: root})
	}
	if err := d.finish("doc info"); err != nil {
		return nil, err
	}
	return di, nil
}

// AppendLocalDoc appends the encoding of ld to buf. Deleted is not encoded:
// a deleted local doc is not stored.
func AppendLocalDoc(buf []byte, ld *LocalDoc) []byte {
	buf = append(buf, localDocV1)
	buf = appendString(buf, ld.ID)
	buf = binary.AppendUvarint(buf, ld.Rev)
	buf = binary.AppendUvarint(buf, uint64(len(ld.Body)))
	return append(buf, ld.Body...)
}

// DecodeLocalDoc decodes what AppendLocalDoc produced. The body is copied.
func DecodeLocalDoc(b []byte) (*LocalDoc, error) {
	d := decoder{b: b}
	if v := d.byte(); v != localDocV1 && d.err == nil {
		return nil, fmt.Errorf("local doc: version %d: %w", v, ErrCorrupt)
	}
	ld := &LocalDoc{}
	ld.ID = d.string()
	ld.Rev = d.uvarint()
	ld.Body = append([]byte(nil), d.bytes()...)
	if err := d.finish("local doc"); err != nil {
		return nil, err
	}
	return ld, nil
}

// AppendPurgeInfo appends the encoding of pi to buf.
func AppendPurgeInfo(buf []byte, pi *PurgeInfo) []byte {
	buf = append(buf, purgeInfoV1)
	buf = binary.AppendUvarint(buf, pi.Seq)
	buf = appendString(buf, pi.UUID)
	buf = appendString(buf, pi.ID)
	buf = binary.AppendUvarint(buf, uint64(len(pi.Revs)))
	for _, r := range pi.Revs {
		buf = binary.AppendUvarint(buf, r.Pos)
		buf = appendString(buf, r.ID)
	}
	return buf
}

// DecodePurgeInfo decodes what AppendPurgeInfo produced.
func DecodePurgeInfo(b []byte) (*PurgeInfo, error) {
	d := decoder{b: b}
	if v := d.byte(); v != purgeInfoV1 && d.err == nil {
		return nil, fmt.Errorf("purge info: version %d: %w", v, ErrCorrupt)
	}
	pi := &PurgeInfo{}
	pi.Seq = d.uvarint()
	pi.UUID = d.string()
	pi.ID = d.string()
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		pos := d.uvarint()
		pi.Revs = append(pi.Revs, Rev{Pos: pos, ID: d.string()})
	}
	if err := d.finish("purge info"); err != nil {
		return nil, err
	}
	return pi, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendBool(buf []byte, v bool) []byte {
	if v {
		return append(buf, 1)
	}
	return append(buf, 0)
}

// decoder reads the codec's primitives; the first failure sticks in err and
// every later read returns a zero value.
type decoder struct {
	b   []byte
	err error

	// src, when set, is a copy of a suffix of the input that d.b is still
	// within: strings read from it are substrings instead of copies.
	src string

	// Slabs that node hands out nodes, values and child lists from.
	nodes []RevNode
	vals  []RevValue
	kids  []*RevNode
	seen  int // nodes decoded so far
	used  int // input bytes they took
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or malformed %s: %w", what, ErrCorrupt)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bool")
	return false
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// A last byte of zero after others is padding that AppendUvarint never
	// writes; accepting it would give one value two encodings, and engines
	// compare stored values by their encoding.
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must be satisfiable by the remaining bytes (each
// element takes at least one byte), which bounds allocations on bad input.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	if d.src == "" {
		return string(d.bytes())
	}
	n := d.count()
	if d.err != nil {
		return ""
	}
	off := len(d.src) - len(d.b)
	d.b = d.b[n:]
	return d.src[off : off+n]
}

// node decodes a pre-order tree written by appendNode without recursion.
func (d *decoder) node() *RevNode {
	type frame struct {
		n    *RevNode
		left int // children still to read
	}
	var root *RevNode
	var small [16]frame
	stack := small[:0]
	for d.err == nil {
		before := len(d.b)
		n := d.newNode()
		n.ID = d.string()
		switch flags := d.byte(); {
		case flags == 0:
		case flags&^3 == 0 && flags&1 == 1:
			v := d.newValue()
			*v = RevValue{Deleted: flags&2 != 0, Ptr: d.uvarint(), Seq: d.uvarint(), Size: d.uvarint()}
			n.Value = v
		default:
			d.fail("rev node flags")
		}
		kids := d.count()
		if d.err != nil {
			return nil
		}
		d.seen++
		d.used += before - len(d.b)
		if kids > 0 {
			n.Children = d.newKids(kids)
		}
		if root == nil {
			root = n
		} else {
			top := &stack[len(stack)-1]
			top.n.Children = append(top.n.Children, n)
			top.left--
		}
		if kids > 0 {
			if len(stack) >= maxTreeDepth {
				d.fail("rev tree depth")
				return nil
			}
			stack = append(stack, frame{n, kids})
		}
		for len(stack) > 0 && stack[len(stack)-1].left == 0 {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return root
		}
	}
	return nil
}

// slabFor estimates how many more nodes the input holds from the bytes
// each node has taken so far (a couchfs revision takes about 40), so that
// a tree costs a few allocations, not several per revision.
func (d *decoder) slabFor(least int) int {
	per := 40
	if d.seen > 0 {
		per = max(d.used/d.seen, 3) // a node takes at least 3 bytes
	}
	return max(len(d.b)/per+1, least, 4)
}

func (d *decoder) newNode() *RevNode {
	if len(d.nodes) == cap(d.nodes) {
		d.nodes = make([]RevNode, 0, d.slabFor(1))
	}
	d.nodes = d.nodes[:len(d.nodes)+1]
	return &d.nodes[len(d.nodes)-1]
}

func (d *decoder) newValue() *RevValue {
	if len(d.vals) == cap(d.vals) {
		d.vals = make([]RevValue, 0, d.slabFor(1))
	}
	d.vals = d.vals[:len(d.vals)+1]
	return &d.vals[len(d.vals)-1]
}

// newKids returns an empty child list with room for exactly k children, so
// that appending to a decoded node's children never writes into another's.
func (d *decoder) newKids(k int) []*RevNode {
	if cap(d.kids)-len(d.kids) < k {
		d.kids = make([]*RevNode, 0, d.slabFor(k))
	}
	l := len(d.kids)
	d.kids = d.kids[:l+k]
	return d.kids[l : l : l+k]
}

func (d *decoder) finish(what string) error {
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%s: %d trailing bytes: %w", what, len(d.b), ErrCorrupt)
	}
	return nil
}
