package engines

import (
	"encoding/binary"
	"fmt"
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

// appendNode writes the tree in pre-order iteratively so that deep (long
// linear) histories do not grow the Go stack.
func appendNode(buf []byte, root *RevNode) []byte {
	stack := []*RevNode{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		buf = appendString(buf, n.ID)
		if n.Value == nil {
			buf = append(buf, 0)
		} else {
			flags := byte(1)
			if n.Value.Deleted {
				flags |= 2
			}
			buf = append(buf, flags)
			buf = binary.AppendUvarint(buf, n.Value.Ptr)
			buf = binary.AppendUvarint(buf, n.Value.Seq)
			buf = binary.AppendUvarint(buf, n.Value.Size)
		}
		buf = binary.AppendUvarint(buf, uint64(len(n.Children)))
		for i := len(n.Children) - 1; i >= 0; i-- {
			stack = append(stack, n.Children[i])
		}
	}
	return buf
}

// DecodeDocInfo decodes what AppendDocInfo produced.
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

func (d *decoder) string() string { return string(d.bytes()) }

// node decodes a pre-order tree written by appendNode without recursion.
func (d *decoder) node() *RevNode {
	type frame struct {
		n    *RevNode
		left int // children still to read
	}
	var root *RevNode
	var stack []frame
	for d.err == nil {
		n := &RevNode{ID: d.string()}
		switch flags := d.byte(); {
		case flags == 0:
		case flags&^3 == 0 && flags&1 == 1:
			n.Value = &RevValue{Deleted: flags&2 != 0, Ptr: d.uvarint(), Seq: d.uvarint(), Size: d.uvarint()}
		default:
			d.fail("rev node flags")
		}
		kids := d.count()
		if d.err != nil {
			return nil
		}
		if kids > 0 {
			n.Children = make([]*RevNode, 0, kids)
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

func (d *decoder) finish(what string) error {
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%s: %d trailing bytes: %w", what, len(d.b), ErrCorrupt)
	}
	return nil
}
