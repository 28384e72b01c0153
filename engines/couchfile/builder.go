package couchfile

// builder writes a tree bottom-up from entries given in ascending key
// order: each level fills nodes to about nodeTarget and passes a pointer up
// when one is full. Compaction uses it, so a compacted tree is packed full
// and written once instead of grown by copy-on-write. Writer only.
type builder struct {
	t     tree
	leaf  level
	upper []*level // upper[0] is the first interior level
	last  string
	any   bool
}

type level struct {
	keys  []string
	vals  []string // leaf level
	kids  []kp     // interior levels
	bytes int
}

func newBuilder(t tree) *builder { return &builder{t: t} }

// add appends one entry; keys must ascend strictly.
func (b *builder) add(key, val string) error {
	if b.any && key <= b.last {
		return corruptf("%s tree: key %q after %q", treeNames[b.t.kind], key, b.last)
	}
	b.last, b.any = key, true
	sz := strLen(key) + strLen(val)
	if b.leaf.bytes > 0 && b.leaf.bytes+sz > nodeTarget {
		if err := b.flushLeaf(); err != nil {
			return err
		}
	}
	b.leaf.keys = append(b.leaf.keys, key)
	b.leaf.vals = append(b.leaf.vals, val)
	b.leaf.bytes += sz
	return nil
}

func (b *builder) flushLeaf() error {
	r, err := b.t.writeLeaf(b.leaf.keys, b.leaf.vals)
	if err != nil {
		return err
	}
	e := kp{b.leaf.keys[len(b.leaf.keys)-1], r}
	b.leaf = level{}
	return b.push(0, e)
}

// push adds a child entry to interior level i.
func (b *builder) push(i int, e kp) error {
	if i == len(b.upper) {
		b.upper = append(b.upper, &level{})
	}
	l := b.upper[i]
	sz := strLen(e.key) + refLen(e.ref)
	if l.bytes > 0 && l.bytes+sz > nodeTarget {
		if err := b.flushInterior(i); err != nil {
			return err
		}
	}
	l.kids = append(l.kids, e)
	l.bytes += sz
	return nil
}

func (b *builder) flushInterior(i int) error {
	l := b.upper[i]
	r, err := b.t.writeInterior(l.kids)
	if err != nil {
		return err
	}
	e := kp{l.kids[len(l.kids)-1].key, r}
	*l = level{}
	return b.push(i+1, e)
}

// finish writes the partial nodes from the bottom up and returns the root.
func (b *builder) finish() (ref, error) {
	if len(b.leaf.keys) > 0 {
		if err := b.flushLeaf(); err != nil {
			return ref{}, err
		}
	}
	for i := 0; i < len(b.upper); i++ {
		l := b.upper[i]
		if i == len(b.upper)-1 && len(l.kids) == 1 {
			return l.kids[0].ref, nil
		}
		if len(l.kids) > 0 {
			if err := b.flushInterior(i); err != nil {
				return ref{}, err
			}
		}
	}
	return ref{}, nil
}
