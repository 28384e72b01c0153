package couchfile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testTree returns an empty tree of kind in a fresh store.
func testTree(t *testing.T, kind int) tree {
	t.Helper()
	o := Options{}.withDefaults()
	o.CacheBytes = 64 << 10 // small, so reads go to the file too
	f, err := o.OpenFile(filepath.Join(t.TempDir(), "tree"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(f, "tree", 0, 0, &o)
	if err := st.commit(&header{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.release() })
	return tree{s: st, kind: kind}
}

// TestTreeAgainstMap applies random batches to a tree and to a map and
// compares lookups, folds over random ranges in both directions, counts,
// and the structure (via the checker's walk) after every batch.
func TestTreeAgainstMap(t *testing.T) {
	seed := uint64(42)
	r := rand.New(rand.NewPCG(seed, seed))
	tr := testTree(t, treeSeq)
	model := map[string]string{}
	var root ref
	key := func() string { return fmt.Sprintf("k%05d%s", r.IntN(3000), strings.Repeat("-", 40)) }
	for round := range 60 {
		acts := map[string]action{}
		for range 1 + r.IntN(300) {
			k := key()
			if r.IntN(3) == 0 {
				acts[k] = action{key: k, remove: true}
			} else {
				acts[k] = action{key: k, val: strings.Repeat("v", r.IntN(120)) + k}
			}
		}
		sorted := make([]action, 0, len(acts))
		for _, a := range acts {
			sorted = append(sorted, a)
			if a.remove {
				delete(model, a.key)
			} else {
				model[a.key] = a.val
			}
		}
		slices.SortFunc(sorted, func(a, b action) int { return strings.Compare(a.key, b.key) })
		var err error
		if root, err = tr.modify(root, sorted); err != nil {
			t.Fatalf("round %d: modify: %v", round, err)
		}
		checkTreeAgainst(t, tr, root, model, r)
	}
}

func checkTreeAgainst(t *testing.T, tr tree, root ref, model map[string]string, r *rand.Rand) {
	t.Helper()
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if root.red.count != uint64(len(keys)) {
		t.Fatalf("root counts %d entries, model has %d", root.red.count, len(keys))
	}
	w := &treeWalk{t: tr}
	if root.ptr != 0 {
		if _, red, size, err := w.walk(root.ptr, 0); err != nil || red != root.red || size != root.size {
			t.Fatalf("walk: %+v/%d vs root %+v/%d, %v", red, size, root.red, root.size, err)
		}
	}
	probe := []string{"k00000", "k01500", "k02999", "zzz", "a"}
	for range 10 {
		probe = append(probe, fmt.Sprintf("k%05d", r.IntN(3000)))
	}
	for i := 0; i < 10 && len(keys) > 0; i++ {
		probe = append(probe, keys[r.IntN(len(keys))])
	}
	slices.Sort(probe)
	vals, found, err := tr.lookup(root, probe)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range probe {
		if v, ok := model[k]; ok != found[i] || v != vals[i] {
			t.Fatalf("lookup %q: %v %q, model %v", k, found[i], vals[i], ok)
		}
	}
	for range 10 {
		b := bounds{lo: probe[r.IntN(len(probe))], hi: probe[r.IntN(len(probe))],
			hasLo: r.IntN(4) > 0, hasHi: r.IntN(4) > 0, loOpen: r.IntN(2) == 0, hiOpen: r.IntN(2) == 0}
		reverse := r.IntN(2) == 0
		var want []string
		for _, k := range keys {
			if b.aboveLo(k) && b.belowHi(k) {
				want = append(want, k)
			}
		}
		if reverse {
			slices.Reverse(want)
		}
		var got []string
		if err := tr.fold(root, b, reverse, func(k, v string) error {
			if v != model[k] {
				return fmt.Errorf("value of %q", k)
			}
			got = append(got, k)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("fold %+v reverse=%v: got %d keys, want %d", b, reverse, len(got), len(want))
		}
		k := probe[r.IntN(len(probe))]
		n, err := tr.countAbove(root, k)
		if err != nil {
			t.Fatal(err)
		}
		above := len(keys) - sortSearch(keys, k)
		if n != uint64(above) {
			t.Fatalf("countAbove(%q) = %d, want %d", k, n, above)
		}
	}
}

// sortSearch is the number of keys <= k.
func sortSearch(keys []string, k string) int {
	i, found := slices.BinarySearch(keys, k)
	if found {
		return i + 1
	}
	return i
}

// TestBuilderMatchesModify builds the same entries bottom-up and by
// insertion and requires equal contents, and nodes that are fuller.
func TestBuilderMatchesModify(t *testing.T) {
	for _, n := range []int{0, 1, 10, 100, 5000} {
		tr := testTree(t, treeLocal)
		model := map[string]string{}
		b := newBuilder(tr)
		var acts []action
		for i := range n {
			// Long keys make interior nodes narrow, so 5000 entries
			// take three levels.
			k, v := strings.Repeat("p", 100)+fmt.Sprintf("%06d", i), strings.Repeat("x", i%200)
			model[k] = v
			if err := b.add(k, v); err != nil {
				t.Fatal(err)
			}
			acts = append(acts, action{key: k, val: v})
		}
		built, err := b.finish()
		if err != nil {
			t.Fatal(err)
		}
		grown, err := tr.modify(ref{}, acts)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(n), 1))
		checkTreeAgainst(t, tr, built, model, r)
		checkTreeAgainst(t, tr, grown, model, r)
		if n == 5000 && treeHeight(t, tr, built) < 3 {
			t.Fatalf("built tree of %d entries has %d levels", n, treeHeight(t, tr, built))
		}
		if built.size > grown.size+grown.size/10+blockSize {
			t.Fatalf("%d entries: built tree takes %d bytes, grown one %d", n, built.size, grown.size)
		}
	}
}

func TestBuilderRejectsDisorder(t *testing.T) {
	b := newBuilder(testTree(t, treeLocal))
	if err := b.add("b", ""); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, "out-of-order add", b.add("a", ""))
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   []action
		want []action
	}{
		{"insert wins over remove", []action{{key: "a", remove: true}, {key: "a", val: "1"}}, []action{{key: "a", val: "1"}}},
		{"insert wins in either order", []action{{key: "a", val: "1"}, {key: "a", remove: true}}, []action{{key: "a", val: "1"}}},
		{"sorted", []action{{key: "b", val: "2"}, {key: "a", remove: true}}, []action{{key: "a", remove: true}, {key: "b", val: "2"}}},
		{"two removes", []action{{key: "a", remove: true}, {key: "a", remove: true}}, []action{{key: "a", remove: true}}},
	}
	for _, tt := range tests {
		if got := normalize(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// treeHeight is the number of levels under root.
func treeHeight(t *testing.T, tr tree, root ref) int {
	h := 0
	for ptr := root.ptr; ptr != 0; h++ {
		n, err := tr.s.readNode(ptr)
		if err != nil {
			t.Fatal(err)
		}
		if n.leaf {
			return h + 1
		}
		ptr = n.kids[0].ptr
	}
	return h
}
