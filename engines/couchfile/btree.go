package couchfile

import (
	"fmt"
	"sort"

	"github.com/couchfs/couchfs/engines"
)

// tree is a copy-on-write B+tree in a store: a modification appends the
// changed leaves and the path above them and returns a new root, leaving
// every older root readable. Reads may run on any goroutine; modify and
// build only on the store's writer.
type tree struct {
	s    *store
	kind int // treeID, treeSeq, …: selects how a leaf value reduces
}

// nodeTarget is the encoded size a node is split at, before compression.
// A save rewrites its document's leaf and the nodes above it whole, so
// smaller nodes mean less to encode, compress and sync per save, while a
// listing visits more of them. In full `couchfs bench` runs (couch, two
// each), 4,096 bytes gave 2,179-2,216 one-writer saves a second through
// the mount and listed 100,000 documents in 0.24 s; 2,048 gave 2,732-2,750
// and 0.25 s; CouchDB's default chunk_threshold, 1,279, gave 2,491-2,769
// and 0.28-0.32 s.
const nodeTarget = 2048

// kp is an interior entry being built: a child and its last key.
type kp struct {
	key string
	ref ref
}

// action is one change to a tree: insert or replace key's value, or remove
// key.
type action struct {
	key    string
	val    string
	remove bool
}

// lookup returns the values of keys, which must be sorted, and whether each
// was found.
func (t tree) lookup(r ref, keys []string) ([]string, []bool, error) {
	vals := make([]string, len(keys))
	found := make([]bool, len(keys))
	if r.ptr == 0 || len(keys) == 0 {
		return vals, found, nil
	}
	return vals, found, t.lookupIn(r.ptr, keys, vals, found)
}

func (t tree) lookupIn(ptr uint64, keys, vals []string, found []bool) error {
	n, err := t.s.readNode(ptr)
	if err != nil {
		return err
	}
	if n.leaf {
		i := 0
		for j, k := range keys {
			i += sort.SearchStrings(n.keys[i:], k)
			if i < len(n.keys) && n.keys[i] == k {
				vals[j], found[j] = n.vals[i], true
			}
		}
		return nil
	}
	j := 0
	for i := range n.kids {
		if j == len(keys) {
			break
		}
		e := j + sort.Search(len(keys)-j, func(x int) bool { return keys[j+x] > n.keys[i] })
		if e > j {
			if err := t.lookupIn(n.kids[i].ptr, keys[j:e], vals[j:e], found[j:e]); err != nil {
				return err
			}
		}
		j = e
	}
	return nil
}

// get looks up one key.
func (t tree) get(r ref, key string) (string, bool, error) {
	vals, found, err := t.lookup(r, []string{key})
	if err != nil {
		return "", false, err
	}
	return vals[0], found[0], nil
}

// modify applies acts, sorted by key with no key twice, and returns the new
// root. A removal of a missing key changes nothing.
func (t tree) modify(r ref, acts []action) (ref, error) {
	if len(acts) == 0 {
		return r, nil
	}
	var out []kp
	var changed bool
	var err error
	if r.ptr == 0 {
		out, changed, err = t.modifyLeaf(nil, acts)
	} else {
		out, changed, err = t.modifyNode(r, acts)
	}
	if err != nil || !changed {
		return r, err
	}
	for len(out) > 1 {
		if out, err = t.writeInteriors(out); err != nil {
			return ref{}, err
		}
	}
	if len(out) == 0 {
		return ref{}, nil
	}
	return out[0].ref, nil
}

// modifyNode applies acts under r and returns the entries that replace r
// in its parent, or changed false if nothing changed.
func (t tree) modifyNode(r ref, acts []action) ([]kp, bool, error) {
	n, err := t.s.readNode(r.ptr)
	if err != nil {
		return nil, false, err
	}
	if n.leaf {
		out, changed, err := t.modifyLeaf(n, acts)
		if changed {
			t.s.cache.drop(r.ptr)
		}
		return out, changed, err
	}
	out := make([]kp, 0, len(n.kids)+1)
	changed := false
	j := 0
	for i := range n.kids {
		e := len(acts) // the last child takes every key beyond the node's
		if i < len(n.kids)-1 {
			e = j + sort.Search(len(acts)-j, func(x int) bool { return acts[j+x].key > n.keys[i] })
		}
		if e == j {
			out = append(out, kp{n.keys[i], n.kids[i]})
			continue
		}
		sub, ch, err := t.modifyNode(n.kids[i], acts[j:e])
		if err != nil {
			return nil, false, err
		}
		if ch {
			out = append(out, sub...)
			changed = true
		} else {
			out = append(out, kp{n.keys[i], n.kids[i]})
		}
		j = e
	}
	if !changed {
		return nil, false, nil
	}
	t.s.cache.drop(r.ptr)
	if len(out) == 0 {
		return nil, true, nil
	}
	out, err = t.writeInteriors(out)
	return out, true, err
}

// modifyLeaf merges acts into the entries of leaf n (nil for an empty
// tree) and writes the result as one or more leaves.
func (t tree) modifyLeaf(n *node, acts []action) ([]kp, bool, error) {
	var oldKeys, oldVals []string
	if n != nil {
		oldKeys, oldVals = n.keys, n.vals
	}
	keys := make([]string, 0, len(oldKeys)+len(acts))
	vals := make([]string, 0, len(oldKeys)+len(acts))
	changed := false
	i := 0
	for _, a := range acts {
		for i < len(oldKeys) && oldKeys[i] < a.key {
			keys, vals = append(keys, oldKeys[i]), append(vals, oldVals[i])
			i++
		}
		exists := i < len(oldKeys) && oldKeys[i] == a.key
		switch {
		case a.remove && exists:
			i++
			changed = true
		case a.remove:
		default:
			if !exists || oldVals[i] != a.val {
				changed = true
			}
			if exists {
				i++
			}
			keys, vals = append(keys, a.key), append(vals, a.val)
		}
	}
	if !changed {
		return nil, false, nil
	}
	keys, vals = append(keys, oldKeys[i:]...), append(vals, oldVals[i:]...)
	out, err := t.writeLeaves(keys, vals)
	return out, true, err
}

// split cuts entries with the given encoded sizes into runs of about
// nodeTarget bytes, evenly, as couch_btree's chunkify does: n runs of about
// total/n bytes rather than full runs and a stub.
func split(sizes []int) [][2]int {
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total <= nodeTarget {
		return [][2]int{{0, len(sizes)}}
	}
	target := total / (total/nodeTarget + 1)
	var runs [][2]int
	start, acc := 0, 0
	for i, s := range sizes {
		if acc > 0 && acc+s > target {
			runs = append(runs, [2]int{start, i})
			start, acc = i, 0
		}
		acc += s
	}
	return append(runs, [2]int{start, len(sizes)})
}

func (t tree) writeLeaves(keys, vals []string) ([]kp, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	sizes := make([]int, len(keys))
	for i := range keys {
		sizes[i] = strLen(keys[i]) + strLen(vals[i])
	}
	var out []kp
	for _, run := range split(sizes) {
		r, err := t.writeLeaf(keys[run[0]:run[1]], vals[run[0]:run[1]])
		if err != nil {
			return nil, err
		}
		out = append(out, kp{keys[run[1]-1], r})
	}
	return out, nil
}

func (t tree) writeLeaf(keys, vals []string) (ref, error) {
	var red reduction
	for i := range keys {
		r, err := reduceValue(t.kind, vals[i])
		if err != nil {
			return ref{}, fmt.Errorf("%s tree key %q: %w", treeNames[t.kind], keys[i], err)
		}
		red = red.add(r)
	}
	ptr, size, err := t.s.writeNode(&node{leaf: true, keys: keys, vals: vals}, t.kind == treeID || t.kind == treePurgeSeq)
	if err != nil {
		return ref{}, err
	}
	return ref{ptr: ptr, red: red, size: size}, nil
}

// writeInteriors writes entries as one level of interior nodes.
func (t tree) writeInteriors(entries []kp) ([]kp, error) {
	sizes := make([]int, len(entries))
	for i, e := range entries {
		sizes[i] = strLen(e.key) + refLen(e.ref)
	}
	var out []kp
	for _, run := range split(sizes) {
		r, err := t.writeInterior(entries[run[0]:run[1]])
		if err != nil {
			return nil, err
		}
		out = append(out, kp{entries[run[1]-1].key, r})
	}
	return out, nil
}

func (t tree) writeInterior(entries []kp) (ref, error) {
	n := &node{keys: make([]string, len(entries)), kids: make([]ref, len(entries))}
	var red reduction
	var below uint64
	for i, e := range entries {
		n.keys[i], n.kids[i] = e.key, e.ref
		red = red.add(e.ref.red)
		below += e.ref.size
	}
	ptr, size, err := t.s.writeNode(n, false)
	if err != nil {
		return ref{}, err
	}
	return ref{ptr: ptr, red: red, size: size + below}, nil
}

// bounds limits a fold to a key range; each end may be open (exclusive).
type bounds struct {
	lo, hi         string
	hasLo, hasHi   bool
	loOpen, hiOpen bool
}

func (b *bounds) aboveLo(k string) bool {
	return !b.hasLo || k > b.lo || (k == b.lo && !b.loOpen)
}

func (b *bounds) belowHi(k string) bool {
	return !b.hasHi || k < b.hi || (k == b.hi && !b.hiOpen)
}

// fold calls fn for every entry within b, in key order or reversed. fn's
// error ends the fold and is returned as is. The key and value strings are
// immutable and may be kept.
func (t tree) fold(r ref, b bounds, reverse bool, fn func(k, v string) error) error {
	if r.ptr == 0 {
		return nil
	}
	return t.foldNode(r.ptr, &b, reverse, fn)
}

func (t tree) foldNode(ptr uint64, b *bounds, reverse bool, fn func(k, v string) error) error {
	n, err := t.s.readNode(ptr)
	if err != nil {
		return err
	}
	// first is the first entry whose subtree may hold a key above lo; last
	// is the last one whose subtree may hold a key below hi (child i holds
	// the keys in (keys[i-1], keys[i]]).
	first := sort.Search(len(n.keys), func(i int) bool { return b.aboveLo(n.keys[i]) })
	var last int
	if n.leaf {
		last = sort.Search(len(n.keys), func(i int) bool { return !b.belowHi(n.keys[i]) }) - 1
	} else {
		last = sort.Search(len(n.keys), func(i int) bool { return i > 0 && b.hasHi && n.keys[i-1] >= b.hi }) - 1
	}
	visit := func(i int) error {
		if n.leaf {
			return fn(n.keys[i], n.vals[i])
		}
		return t.foldNode(n.kids[i].ptr, b, reverse, fn)
	}
	if reverse {
		for i := last; i >= first; i-- {
			if err := visit(i); err != nil {
				return err
			}
		}
		return nil
	}
	for i := first; i <= last; i++ {
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}

// countAbove counts the keys greater than k, using the reductions to skip
// whole subtrees.
func (t tree) countAbove(r ref, k string) (uint64, error) {
	var n uint64
	ptr := r.ptr
	for ptr != 0 {
		nd, err := t.s.readNode(ptr)
		if err != nil {
			return 0, err
		}
		i := sort.Search(len(nd.keys), func(i int) bool { return nd.keys[i] > k })
		if nd.leaf {
			return n + uint64(len(nd.keys)-i), nil
		}
		if i == len(nd.keys) {
			return n, nil
		}
		for _, kid := range nd.kids[i+1:] {
			n += kid.red.count
		}
		ptr = nd.kids[i].ptr
	}
	return n, nil
}

// corruptf formats an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, engines.ErrCorrupt)...)
}
