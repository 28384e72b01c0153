package couchfile

import (
	"fmt"
	"testing"
	"unsafe"
)

// TestCachedNodesHoldOnlyTheirBytes: every cached node keeps alive one
// string of its own keys and values (and, if read from the file, their
// length prefixes), not the strings of the nodes a write replaced or of
// the write's other documents; the cache's byte bound is then a bound on
// the memory it holds.
func TestCachedNodesHoldOnlyTheirBytes(t *testing.T) {
	_, db, _ := testDB(t, Options{})
	for round := range 3 {
		var ids []string
		for i := range 500 {
			ids = append(ids, fmt.Sprintf("doc%04d", (i*37+round)%700))
		}
		if err := putDocs(db, func(id string) []byte { return fmt.Appendf(nil, `{"id":%q}`, id) }, dedup(ids)...); err != nil {
			t.Fatal(err)
		}
		if err := db.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	c := db.st.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) == 0 {
		t.Fatal("the writes cached no node")
	}
	for ptr, e := range c.m {
		n := e.n
		var strs []string
		size := 0
		for i, k := range n.keys {
			strs = append(strs, k)
			if n.leaf {
				strs = append(strs, n.vals[i])
			}
		}
		for _, s := range strs {
			size += len(s)
		}
		lo, hi := uintptr(0), uintptr(0)
		for _, s := range strs {
			if len(s) == 0 {
				continue
			}
			p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
			if lo == 0 || p < lo {
				lo = p
			}
			if end := p + uintptr(len(s)); end > hi {
				hi = end
			}
		}
		// A node decoded from the file keeps its encoding, length
		// prefixes included; anything more is someone else's memory.
		if limit := size + 16*len(strs) + 64; int(hi-lo) > limit {
			t.Fatalf("node %d: its %d bytes of keys and values span %d bytes of memory", ptr, size, hi-lo)
		}
	}
}

func dedup(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
