package enginetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// foldChangesCases port cpse_test_fold_changes (the forward direction: the
// engines contract has no reverse changes fold), plus stopping, errors,
// deleted and local docs, and writes during the fold.
func foldChangesCases(*env) []testCase {
	type row struct {
		name    string
		batches [][]op
		want    []string
	}
	rows := []row{
		{"empty_changes", nil, nil},
		{"single_change", [][]op{{put("a", `{}`)}}, []string{"a@1"}},
		{"two_changes", [][]op{{put("a", `{}`)}, {put("b", `{}`)}}, []string{"a@1", "b@2"}},
		{"two_changes_batch", [][]op{{put("a", `{}`), put("b", `{}`)}}, []string{"a@1", "b@2"}},
		{"two_changes_batch_sorted", [][]op{{put("b", `{}`), put("a", `{}`)}}, []string{"a@1", "b@2"}},
		{"update_one", [][]op{{put("a", `{}`)}, {put("a", `{"v":2}`)}}, []string{"a@2"}},
		{"update_first_of_two", [][]op{{put("a", `{}`), put("b", `{}`)}, {put("a", `{"v":2}`)}}, []string{"b@2", "a@3"}},
		{"update_second_of_two", [][]op{{put("a", `{}`), put("b", `{}`)}, {put("b", `{"v":2}`)}}, []string{"a@1", "b@3"}},
		{"deleted_doc_in_changes", [][]op{{put("a", `{}`), put("b", `{}`)}, {del("a")}}, []string{"b@2", "a@3"}},
		{"local_docs_not_in_changes", [][]op{{put("a", `{}`), localPut("_local/a", `{}`)}, {localPut("_local/b", `{}`)}}, []string{"a@1"}},
		{"conflict_moves_doc", [][]op{{put("a", `{}`), put("b", `{}`)}, {conflict("a", `{"c":1}`)}}, []string{"b@2", "a@3"}},
	}
	var cs []testCase
	for _, r := range rows {
		cs = append(cs, testCase{r.name, func(e *env) {
			for _, b := range r.batches {
				e.w.apply(b...)
			}
			got := e.changes(0)
			if !slices.Equal(got, r.want) {
				e.t.Fatalf("changes %q, want %q", got, r.want)
			}
			if n, err := e.db.CountChangesSince(0); err != nil || n != uint64(len(r.want)) {
				e.t.Fatalf("CountChangesSince(0) = %d, %v; want %d", n, err, len(r.want))
			}
		}})
	}
	return append(cs,
		testCase{"check_mutation_ordering", func(e *env) {
			r := rand.New(rand.NewPCG(25, 25))
			ids := make([]string, 25)
			for i := range ids {
				ids[i] = fmt.Sprintf("%02d", i)
			}
			r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			var all []string
			for i, id := range ids {
				e.w.apply(put(id, `{}`))
				all = append(all, fmt.Sprintf("%s@%d", id, i+1))
			}
			for since := range 26 {
				if got := e.changes(uint64(since)); !slices.Equal(got, all[since:]) {
					e.t.Fatalf("changes since %d = %q, want %q", since, got, all[since:])
				}
				if n, err := e.db.CountChangesSince(uint64(since)); err != nil || n != uint64(25-since) {
					e.t.Fatalf("CountChangesSince(%d) = %d, %v", since, n, err)
				}
			}
			for i, id := range ids {
				e.w.apply(put(id, `{"v":2}`))
				got := e.changes(0)
				if want := fmt.Sprintf("%s@%d", id, 26+i); got[len(got)-1] != want || len(got) != 25 {
					e.t.Fatalf("after updating %s: changes %q, want it last as %s", id, got, want)
				}
			}
		}},
		testCase{"since_beyond_update_seq", func(e *env) {
			e.w.apply(put("a", `{}`))
			if got := e.changes(5); len(got) != 0 {
				e.t.Fatalf("changes since 5 = %q", got)
			}
			if n, err := e.db.CountChangesSince(5); err != nil || n != 0 {
				e.t.Fatalf("CountChangesSince(5) = %d, %v", n, err)
			}
		}},
		testCase{"stop_and_error", func(e *env) {
			fill(e, 10)
			n := 0
			err := e.db.FoldChanges(3, func(di *engines.DocInfo) error {
				n++
				if n == 4 {
					return engines.ErrStopFold
				}
				return nil
			})
			if err != nil || n != 4 {
				e.t.Fatalf("FoldChanges stopped after %d, %v; want 4, nil", n, err)
			}
			boom := errors.New("boom")
			n = 0
			err = e.db.FoldChanges(0, func(*engines.DocInfo) error { n++; return boom })
			if !errors.Is(err, boom) || n != 1 {
				e.t.Fatalf("FoldChanges returned %v after %d, want boom after 1", err, n)
			}
		}},
		testCase{"update_during_fold_not_revisited", func(e *env) {
			fill(e, 20)
			seen := map[string]int{}
			err := e.db.FoldChanges(0, func(di *engines.DocInfo) error {
				seen[di.ID]++
				// The updater moves the visited doc to the end of the
				// changes while the fold runs.
				e.w.apply(put(di.ID, `{"moved":true}`))
				return nil
			})
			if err != nil {
				e.t.Fatal(err)
			}
			for id, n := range seen {
				if n != 1 {
					e.t.Fatalf("FoldChanges visited %q %d times", id, n)
				}
			}
			if len(seen) != 20 {
				e.t.Fatalf("FoldChanges visited %d docs, want 20", len(seen))
			}
			if got := e.changes(20); len(got) != 20 {
				e.t.Fatalf("after moving every doc, changes since 20 = %d entries", len(got))
			}
		}},
	)
}
