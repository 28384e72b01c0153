package enginetest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// foldRow is one cpse_test_fold_docs case. Keys are document IDs without a
// prefix; "" and "\xff" sort before and after every ID and are used as is
// for local docs too.
type foldRow struct {
	name       string
	start, end *string
	excl, rev  bool
	stopAfter  int // fn returns ErrStopFold on this visit (it still counts)
	want       []int
}

func key(s string) *string { return &s }

// span returns a..b inclusive, descending when a > b.
func span(a, b int) []int {
	var out []int
	for i := a; ; {
		out = append(out, i)
		if i == b {
			return out
		}
		if a < b {
			i++
		} else {
			i--
		}
	}
}

var foldRows = []foldRow{
	{name: "all", want: span(1, 100)},
	{name: "all_rev", rev: true, want: span(100, 1)},
	{name: "start_key_high", start: key("\xff")},
	{name: "start_key_empty_rev", start: key(""), rev: true},
	{name: "start_key_empty", start: key(""), want: span(1, 100)},
	{name: "start_key_high_rev", start: key("\xff"), rev: true, want: span(100, 1)},
	{name: "start_key", start: key("0025"), want: span(25, 100)},
	{name: "start_key_rev", start: key("0025"), rev: true, want: span(25, 1)},
	{name: "start_key_between", start: key("0025a"), want: span(26, 100)},
	{name: "start_key_between_rev", start: key("0025a"), rev: true, want: span(25, 1)},
	{name: "end_key_empty", end: key("")},
	{name: "end_key_high_rev", end: key("\xff"), rev: true},
	{name: "end_key_high", end: key("\xff"), want: span(1, 100)},
	{name: "end_key_empty_rev", end: key(""), rev: true, want: span(100, 1)},
	{name: "end_key", end: key("0025"), want: span(1, 25)},
	{name: "end_key_rev", end: key("0025"), rev: true, want: span(100, 25)},
	{name: "end_key_gt", end: key("0025"), excl: true, want: span(1, 24)},
	{name: "end_key_gt_rev", end: key("0025"), excl: true, rev: true, want: span(100, 26)},
	{name: "end_key_gt_empty", end: key(""), excl: true},
	{name: "end_key_gt_high_rev", end: key("\xff"), excl: true, rev: true},
	{name: "end_key_gt_high", end: key("\xff"), excl: true, want: span(1, 100)},
	{name: "range", start: key("0025"), end: key("0075"), want: span(25, 75)},
	{name: "range_rev_inverted", start: key("0025"), end: key("0075"), rev: true},
	{name: "range_rev", start: key("0075"), end: key("0025"), rev: true, want: span(75, 25)},
	{name: "range_inverted", start: key("0075"), end: key("0025")},
	{name: "range_exclusive", start: key("0025"), end: key("0075"), excl: true, want: span(25, 74)},
	{name: "range_exclusive_rev", start: key("0075"), end: key("0025"), excl: true, rev: true, want: span(75, 26)},
	{name: "range_single", start: key("0050"), end: key("0050"), want: []int{50}},
	{name: "range_single_exclusive", start: key("0050"), end: key("0050"), excl: true},
	{name: "stop", stopAfter: 6, want: span(1, 6)},
	{name: "stop_rev", rev: true, stopAfter: 6, want: span(100, 95)},
	{name: "stop_near_end", start: key("0097"), stopAfter: 6, want: span(97, 100)},
	{name: "stop_near_start_rev", start: key("0003"), rev: true, stopAfter: 6, want: span(3, 1)},
}

// foldDocsCases port cpse_test_fold_docs: every row for documents and for
// local documents, plus deleted docs, callback errors and callbacks that
// read.
func foldDocsCases(*env) []testCase {
	var cs []testCase
	for _, r := range foldRows {
		cs = append(cs,
			testCase{r.name, func(e *env) { runFoldRow(e, r, false) }},
			testCase{"local_" + r.name, func(e *env) { runFoldRow(e, r, true) }})
	}
	return append(cs,
		testCase{"includes_deleted_docs", func(e *env) {
			e.w.apply(put("a", `{}`), put("b", `{}`), put("c", `{}`))
			e.w.apply(del("b"))
			var got []string
			if err := e.db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
				got = append(got, fmt.Sprintf("%s:%v", di.ID, di.Deleted))
				return nil
			}); err != nil {
				e.t.Fatal(err)
			}
			if want := []string{"a:false", "b:true", "c:false"}; !slices.Equal(got, want) {
				e.t.Fatalf("FoldDocs = %q, want %q", got, want)
			}
		}},
		testCase{"callback_error_ends_fold", func(e *env) {
			fill(e, 10)
			e.w.apply(localPut("_local/a", `{}`), localPut("_local/b", `{}`))
			boom := errors.New("boom")
			n := 0
			err := e.db.FoldDocs(engines.FoldOptions{}, func(*engines.DocInfo) error { n++; return boom })
			if !errors.Is(err, boom) || n != 1 {
				e.t.Fatalf("FoldDocs returned %v after %d visits, want boom after 1", err, n)
			}
			n = 0
			err = e.db.FoldLocalDocs(engines.FoldOptions{}, func(*engines.LocalDoc) error { n++; return boom })
			if !errors.Is(err, boom) || n != 1 {
				e.t.Fatalf("FoldLocalDocs returned %v after %d visits, want boom after 1", err, n)
			}
		}},
		testCase{"callback_may_read", func(e *env) {
			fill(e, 30)
			n := 0
			err := e.db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
				n++
				if got := e.openDoc(di.ID); got == nil || got.UpdateSeq != di.UpdateSeq {
					return fmt.Errorf("OpenDocs(%q) inside the fold = %v", di.ID, got)
				}
				_, err := e.db.ReadDocBody(di.RevTree[0].Root.Value.Ptr)
				return err
			})
			if err != nil || n != 30 {
				e.t.Fatalf("FoldDocs with reads inside: %d visits, %v", n, err)
			}
		}},
		testCase{"fold_sees_one_state_while_writing", func(e *env) {
			fill(e, 50)
			n := 0
			err := e.db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
				n++
				if n == 10 {
					// The updater writes while its own fold runs: the
					// fold must not visit a document twice or miss one.
					e.w.apply(put("doc-0040", `{"v":2}`), put("doc-0001", `{"v":2}`))
				}
				return nil
			})
			if err != nil || n != 50 {
				e.t.Fatalf("FoldDocs visited %d docs while writing, %v; want 50", n, err)
			}
		}},
	)
}

func runFoldRow(e *env, r foldRow, local bool) {
	e.t.Helper()
	var ops []op
	prefix := ""
	if local {
		prefix = "_local/"
	}
	for i := 1; i <= 100; i++ {
		id := fmt.Sprintf("%s%04d", prefix, i)
		if local {
			ops = append(ops, localPut(id, fmt.Sprintf(`{"i":%d}`, i)))
		} else {
			ops = append(ops, put(id, fmt.Sprintf(`{"i":%d}`, i)))
		}
	}
	e.w.apply(ops...)
	bound := func(k *string) (string, bool) {
		if k == nil {
			return "", false
		}
		if *k == "" || *k == "\xff" {
			return *k, true
		}
		return prefix + *k, true
	}
	var o engines.FoldOptions
	o.Start, o.HasStart = bound(r.start)
	o.End, o.HasEnd = bound(r.end)
	o.EndExclusive, o.Reverse = r.excl, r.rev
	var got []string
	visit := func(id string) error {
		got = append(got, id)
		if len(got) == r.stopAfter {
			return engines.ErrStopFold
		}
		return nil
	}
	var err error
	if local {
		err = e.db.FoldLocalDocs(o, func(ld *engines.LocalDoc) error { return visit(ld.ID) })
	} else {
		err = e.db.FoldDocs(o, func(di *engines.DocInfo) error { return visit(di.ID) })
	}
	if err != nil {
		e.t.Fatalf("fold %+v: %v", o, err)
	}
	want := []string{}
	for _, i := range r.want {
		want = append(want, fmt.Sprintf("%s%04d", prefix, i))
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		e.t.Fatalf("fold %+v visited %d: %q\nwant %d: %q", o, len(got), got, len(want), want)
	}
}
