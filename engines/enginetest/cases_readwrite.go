package enginetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/couchfs/couchfs/engines"
)

// readWriteCases port cpse_test_read_write_docs, plus the write contract:
// input order, byte order, invalid writes, deep trees, stemming.
func readWriteCases(*env) []testCase {
	return []testCase{
		{"read_docs_from_empty_db", func(e *env) {
			for _, ids := range [][]string{{"foo"}, {"foo", "bar"}} {
				got, err := e.db.OpenDocs(ids)
				if err != nil || len(got) != len(ids) || slices.ContainsFunc(got, func(d *engines.DocInfo) bool { return d != nil }) {
					e.t.Fatalf("OpenDocs(%q) = %v, %v; want %d nils", ids, got, err, len(ids))
				}
			}
		}},
		{"read_empty_local_docs", func(e *env) {
			for _, ids := range [][]string{{"_local/foo"}, {"_local/foo", "_local/bar"}} {
				got, err := e.db.OpenLocalDocs(ids)
				if err != nil || len(got) != len(ids) || slices.ContainsFunc(got, func(d *engines.LocalDoc) bool { return d != nil }) {
					e.t.Fatalf("OpenLocalDocs(%q) = %v, %v; want %d nils", ids, got, err, len(ids))
				}
			}
		}},
		{"write_one_doc", func(e *env) {
			e.w.apply(put("foo", `{"vsn":1}`))
			e.counts(1, 0, 1, 0)
			e.reopen()
			e.counts(1, 0, 1, 0)
			if got := e.winnerBody("foo"); got != `{"vsn":1}` {
				e.t.Fatalf("body %s", got)
			}
		}},
		{"write_two_docs", func(e *env) {
			e.w.apply(put("foo", `{"vsn":1}`))
			e.w.apply(put("bar", `{"vsn":1}`))
			e.reopen()
			e.counts(2, 0, 2, 0)
			got, _ := e.db.OpenDocs([]string{"foo", "bar"})
			if got[0] == nil || got[1] == nil || got[0].ID != "foo" || got[1].ID != "bar" {
				e.t.Fatalf("OpenDocs = %v", got)
			}
		}},
		{"write_three_doc_batch", func(e *env) {
			e.w.apply(put("foo", `{}`), put("bar", `{}`), put("baz", `{}`))
			e.reopen()
			e.counts(3, 0, 3, 0)
		}},
		{"update_doc", func(e *env) {
			r1 := e.w.apply(put("foo", `{"vsn":1}`))[0]
			r2 := e.w.apply(put("foo", `{"vsn":2}`))[0]
			e.reopen()
			e.counts(1, 0, 2, 0)
			if got := e.winnerBody("foo"); got != `{"vsn":2}` {
				e.t.Fatalf("body %s", got)
			}
			di := e.openDoc("foo")
			if di.UpdateSeq != 2 || len(di.RevTree) != 1 || di.RevTree[0].Root.ID != r1.ID || r2.Pos != 2 {
				e.t.Fatalf("doc info %s", renderDoc(e.t, e.db, di, exact))
			}
		}},
		{"delete_doc", func(e *env) {
			e.w.apply(put("foo", `{"vsn":1}`))
			e.w.apply(del("foo"))
			e.reopen()
			e.counts(0, 1, 2, 0)
			di := e.openDoc("foo")
			if di == nil || !di.Deleted {
				e.t.Fatalf("deleted doc: %v", di)
			}
			if got := e.winnerBody("foo"); got != `{}` {
				e.t.Fatalf("tombstone body %s", got)
			}
		}},
		{"recreate_deleted_doc", func(e *env) {
			e.w.apply(put("foo", `{"vsn":1}`))
			e.w.apply(del("foo"))
			r := e.w.apply(put("foo", `{"vsn":3}`))[0]
			e.counts(1, 0, 3, 0)
			if r.Pos != 3 || e.openDoc("foo").Deleted {
				e.t.Fatalf("recreated rev %d-%s", r.Pos, r.ID)
			}
		}},
		{"write_local_doc", func(e *env) {
			e.w.apply(localPut("_local/foo", `{"yay":false}`))
			e.reopen()
			e.counts(0, 0, 0, 0)
			if e.openDoc("_local/foo") != nil {
				e.t.Fatal("a local doc is visible through OpenDocs")
			}
			ld := e.openLocal("_local/foo")
			if ld == nil || string(ld.Body) != `{"yay":false}` || ld.Rev != 1 || ld.ID != "_local/foo" {
				e.t.Fatalf("local doc %+v", ld)
			}
		}},
		{"write_mixed_batch", func(e *env) {
			e.w.apply(put("bar", `{}`), localPut("_local/foo", `{}`))
			e.reopen()
			e.counts(1, 0, 1, 0)
			if e.openDoc("_local/foo") != nil || e.openLocal("bar") != nil {
				e.t.Fatal("a document is visible through the other kind's API")
			}
			if e.openDoc("bar") == nil || e.openLocal("_local/foo") == nil {
				e.t.Fatal("a written document is missing")
			}
		}},
		{"update_local_doc", func(e *env) {
			e.w.apply(localPut("_local/foo", `{"v":1}`))
			e.w.apply(localPut("_local/foo", `{"v":2}`))
			e.reopen()
			e.counts(0, 0, 0, 0)
			ld := e.openLocal("_local/foo")
			if ld == nil || string(ld.Body) != `{"v":2}` || ld.Rev != 2 {
				e.t.Fatalf("local doc %+v", ld)
			}
		}},
		{"delete_local_doc", func(e *env) {
			e.w.apply(localPut("_local/foo", `{}`))
			e.w.apply(localDel("_local/foo"))
			e.reopen()
			e.counts(0, 0, 0, 0)
			if ld := e.openLocal("_local/foo"); ld != nil {
				e.t.Fatalf("deleted local doc still there: %+v", ld)
			}
		}},
		{"open_docs_input_order", func(e *env) {
			e.w.apply(put("a", `{}`), put("b", `{}`), put("c", `{}`))
			ids := []string{"c", "missing", "a", "c", "b", ""}
			got, err := e.db.OpenDocs(ids)
			if err != nil || len(got) != len(ids) {
				e.t.Fatalf("OpenDocs = %v, %v", got, err)
			}
			for i, id := range ids {
				exists := id >= "a" && id <= "c"
				if (got[i] != nil) != exists || (exists && got[i].ID != id) {
					e.t.Fatalf("OpenDocs(%q)[%d] = %v", ids, i, got[i])
				}
			}
			lgot, err := e.db.OpenLocalDocs(nil)
			if err != nil || len(lgot) != 0 {
				e.t.Fatalf("OpenLocalDocs(nil) = %v, %v", lgot, err)
			}
		}},
		{"returned_values_are_the_callers", func(e *env) {
			e.w.apply(put("a", `{"v":1}`), localPut("_local/a", `{"v":1}`))
			di := e.openDoc("a")
			di.RevTree[0].Root.ID = "scribbled"
			di.RevTree[0].Root.Value.Ptr++
			ld := e.openLocal("_local/a")
			ld.Body[1] = 'X'
			body, _ := e.db.ReadDocBody(e.openDoc("a").RevTree[0].Root.Value.Ptr)
			body[1] = 'X'
			if got := e.winnerBody("a"); got != `{"v":1}` {
				e.t.Fatalf("body changed through a returned slice: %s", got)
			}
			if e.openDoc("a").RevTree[0].Root.ID == "scribbled" || string(e.openLocal("_local/a").Body) != `{"v":1}` {
				e.t.Fatal("stored values changed through returned ones")
			}
		}},
		{"written_values_are_copied", func(e *env) {
			body := []byte(`{"v":1}`)
			ptr, _, err := e.db.WriteDocBody(body)
			if err != nil {
				e.t.Fatal(err)
			}
			body[1] = 'X'
			di := &engines.DocInfo{ID: "a", UpdateSeq: 1, ExternalSize: 7, RevTree: engines.RevTree{{Start: 1,
				Root: &engines.RevNode{ID: "r1", Value: &engines.RevValue{Ptr: ptr, Seq: 1, Size: 7}}}}}
			locals := []engines.LocalDoc{{ID: "_local/a", Rev: 1, Body: []byte(`{"l":1}`)}}
			if err := e.db.WriteDocInfos([]engines.DocInfoPair{{New: di}}, locals, nil); err != nil {
				e.t.Fatal(err)
			}
			di.RevTree[0].Root.ID = "scribbled"
			locals[0].Body[1] = 'X'
			e.commit()
			if e.winnerBody("a") != `{"v":1}` || e.openDoc("a").RevTree[0].Root.ID != "r1" || string(e.openLocal("_local/a").Body) != `{"l":1}` {
				e.t.Fatal("stored values changed through the caller's arguments")
			}
		}},
		{"writes_visible_before_commit", func(e *env) {
			e.w.commit = false
			e.w.apply(put("a", `{"v":1}`), localPut("_local/a", `{}`))
			if e.openDoc("a") == nil || e.openLocal("_local/a") == nil || e.db.DocCount() != 1 || e.db.UpdateSeq() != 1 {
				e.t.Fatal("a write is not visible to reads before Commit")
			}
			if got := e.changes(0); !slices.Equal(got, []string{"a@1"}) {
				e.t.Fatalf("changes before Commit %q", got)
			}
			e.w.commit = true
			e.commit()
		}},
		{"empty_write", func(e *env) {
			e.w.apply(put("a", `{}`))
			if err := e.db.WriteDocInfos(nil, nil, nil); err != nil {
				e.t.Fatalf("empty WriteDocInfos: %v", err)
			}
			e.commit()
			e.counts(1, 0, 1, 0)
		}},
		{"conflict_doc", func(e *env) {
			e.w.apply(put("foo", `{"v":1}`))
			e.w.apply(conflict("foo", `{"v":"other"}`))
			e.counts(1, 0, 2, 0)
			di := e.openDoc("foo")
			if len(di.RevTree) != 2 || len(leaves(di.RevTree)) != 2 {
				e.t.Fatalf("conflicted doc: %s", renderDoc(e.t, e.db, di, exact))
			}
			e.w.apply(del("foo"))
			if e.db.DocCount() != 1 || e.openDoc("foo").Deleted {
				e.t.Fatal("deleting one of two conflicting leaves deleted the doc")
			}
			e.w.apply(del("foo"))
			e.counts(0, 1, 4, 0)
		}},
		{"raw_byte_order_of_ids", func(e *env) {
			ids := []string{"b", "B", "a", "\u00e9", "_design/x", "a\x00", "~", "1", "aa", "\xff"}
			var ops []op
			for _, id := range ids {
				ops = append(ops, put(id, `{}`), localPut("_local/"+id, `{}`))
			}
			e.w.apply(ops...)
			want := slices.Sorted(slices.Values(ids))
			if got := foldIDs(e, engines.FoldOptions{}); !slices.Equal(got, want) {
				e.t.Fatalf("FoldDocs order %q, want %q", got, want)
			}
			var lwant []string
			for _, id := range want {
				lwant = append(lwant, "_local/"+id)
			}
			if got := foldLocalIDs(e, engines.FoldOptions{}); !slices.Equal(got, lwant) {
				e.t.Fatalf("FoldLocalDocs order %q, want %q", got, lwant)
			}
			var seqOrder []string
			for _, c := range e.changes(0) {
				seqOrder = append(seqOrder, c[:strings.LastIndexByte(c, '@')])
			}
			if !slices.Equal(seqOrder, want) {
				e.t.Fatalf("batch seqs not assigned in ID order: %q", seqOrder)
			}
		}},
		{"large_and_binary_bodies", func(e *env) {
			bodies := [][]byte{[]byte(`{}`), bytes.Repeat([]byte(`{"k":"0123456789"},`), 50_000), {0, 1, 2, 0xff, '\n'}}
			var ptrs []uint64
			for _, b := range bodies {
				ptr, _, err := e.db.WriteDocBody(b)
				if err != nil {
					e.t.Fatal(err)
				}
				ptrs = append(ptrs, ptr)
			}
			var pairs []engines.DocInfoPair
			for i, ptr := range ptrs {
				pairs = append(pairs, engines.DocInfoPair{New: &engines.DocInfo{ID: fmt.Sprintf("d%d", i), UpdateSeq: uint64(i + 1),
					ExternalSize: uint64(len(bodies[i])),
					RevTree:      engines.RevTree{{Start: 1, Root: &engines.RevNode{ID: "r", Value: &engines.RevValue{Ptr: ptr, Seq: uint64(i + 1), Size: uint64(len(bodies[i]))}}}}}})
			}
			if err := e.db.WriteDocInfos(pairs, nil, nil); err != nil {
				e.t.Fatal(err)
			}
			e.commit()
			e.reopen()
			for i, ptr := range ptrs {
				got, err := e.db.ReadDocBody(ptr)
				if err != nil || !bytes.Equal(got, bodies[i]) {
					e.t.Fatalf("body %d: %d bytes, %v; want %d bytes", i, len(got), err, len(bodies[i]))
				}
			}
		}},
		{"invalid_write_stale_old", func(e *env) {
			e.w.apply(put("a", `{}`), put("b", `{}`))
			stale := e.openDoc("a")
			e.w.apply(put("a", `{"v":2}`))
			before := capture(e.t, e.db, exact)
			fresh := e.openDoc("b")
			newB := *fresh
			newB.UpdateSeq = 10
			newA := *stale
			newA.UpdateSeq = 11
			err := e.db.WriteDocInfos([]engines.DocInfoPair{{Old: fresh, New: &newB}, {Old: stale, New: &newA}},
				[]engines.LocalDoc{{ID: "_local/x", Rev: 1, Body: []byte(`{}`)}},
				[]engines.PurgeInfo{{Seq: 1, UUID: "u", ID: "b"}})
			e.wantErr("WriteDocInfos with a stale Old", err, engines.ErrInvalidWrite)
			diffSnapshots(e.t, "after a refused write", before, capture(e.t, e.db, exact))
			e.commit()
		}},
		{"old_is_the_written_new", func(e *env) {
			// The updater passes back the DocInfo it wrote as the next
			// write's Old: a rewrite chain, the last one discarded by
			// Close, and the chain's stale links refused.
			rev := func(n int, prev *engines.DocInfo) *engines.DocInfo {
				body := fmt.Appendf(nil, `{"n":%d}`, n)
				ptr, active, err := e.db.WriteDocBody(body)
				if err != nil {
					e.t.Fatal(err)
				}
				leaf := &engines.RevNode{ID: fmt.Sprintf("r%d", n), Value: &engines.RevValue{Ptr: ptr, Seq: e.db.UpdateSeq() + 1, Size: uint64(len(body))}}
				root := leaf
				if prev != nil {
					// A new tree: the previous one stays as it was written.
					root = &engines.RevNode{ID: "r1", Value: prev.RevTree[0].Root.Value}
					tail := root
					for old := prev.RevTree[0].Root; len(old.Children) > 0; {
						old = old.Children[0]
						nd := &engines.RevNode{ID: old.ID, Value: old.Value}
						tail.Children = []*engines.RevNode{nd}
						tail = nd
					}
					tail.Children = []*engines.RevNode{leaf}
				}
				return &engines.DocInfo{ID: "a", UpdateSeq: e.db.UpdateSeq() + 1, ActiveSize: active, ExternalSize: uint64(len(body)),
					RevTree: engines.RevTree{{Start: 1, Root: root}}}
			}
			write := func(old, nu *engines.DocInfo) error {
				return e.db.WriteDocInfos([]engines.DocInfoPair{{Old: old, New: nu}}, nil, nil)
			}
			di := rev(1, nil)
			if err := write(nil, di); err != nil {
				e.t.Fatal(err)
			}
			var prev *engines.DocInfo
			for n := 2; n <= 4; n++ {
				prev, di = di, rev(n, di)
				if err := write(prev, di); err != nil {
					e.t.Fatalf("rewrite %d with the written doc info as Old: %v", n, err)
				}
				if n == 3 {
					e.commit()
				}
			}
			e.wantErr("a stale written doc info as Old", write(prev, rev(5, prev)), engines.ErrInvalidWrite)
			copied := *di
			copied.ActiveSize++
			e.wantErr("a changed copy of the written doc info as Old", write(&copied, rev(5, di)), engines.ErrInvalidWrite)
			if got := e.winnerBody("a"); got != `{"n":4}` {
				e.t.Fatalf("before reopen: winner %s", got)
			}
			e.reopen() // discards rewrite 4
			if got := e.winnerBody("a"); got != `{"n":3}` {
				e.t.Fatalf("after reopen: winner %s, want the last committed", got)
			}
			if seqs := e.changes(0); len(seqs) != 1 || seqs[0] != "a@3" {
				e.t.Fatalf("changes after reopen: %v", seqs)
			}
			e.counts(1, 0, 3, 0)
		}},
		{"invalid_write_nil_old_for_existing", func(e *env) {
			e.w.apply(put("a", `{}`))
			before := capture(e.t, e.db, exact)
			di := e.openDoc("a")
			di.UpdateSeq = 5
			err := e.db.WriteDocInfos([]engines.DocInfoPair{{Old: nil, New: di}}, nil, nil)
			e.wantErr("WriteDocInfos creating an existing doc", err, engines.ErrInvalidWrite)
			diffSnapshots(e.t, "after a refused write", before, capture(e.t, e.db, exact))
		}},
		{"invalid_write_repeats_an_id_or_seq", func(e *env) {
			e.w.apply(put("a", `{}`))
			top := e.db.UpdateSeq()
			doc := func(id string, seq uint64) engines.DocInfoPair {
				ptr, active, err := e.db.WriteDocBody([]byte(`{}`))
				if err != nil {
					e.t.Fatal(err)
				}
				return engines.DocInfoPair{New: &engines.DocInfo{ID: id, UpdateSeq: seq, ActiveSize: active, ExternalSize: 2,
					RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{ID: "x", Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: 2}}}}}}
			}
			for _, tc := range []struct {
				name  string
				pairs []engines.DocInfoPair
			}{
				{"one doc twice", []engines.DocInfoPair{doc("b", top+1), doc("c", top+2), doc("b", top+3)}},
				{"one seq for two docs", []engines.DocInfoPair{doc("b", top+1), doc("c", top+1)}},
				{"one seq for two docs, not in ID order", []engines.DocInfoPair{doc("d", top+2), doc("b", top+2), doc("c", top+1)}},
				{"the seq of a stored doc", []engines.DocInfoPair{doc("b", top+1), doc("c", top)}},
			} {
				before := capture(e.t, e.db, exact)
				err := e.db.WriteDocInfos(tc.pairs, nil, nil)
				e.wantErr(tc.name, err, engines.ErrInvalidWrite)
				diffSnapshots(e.t, "after a refused write: "+tc.name, before, capture(e.t, e.db, exact))
			}
		}},
		{"invalid_write_old_for_missing", func(e *env) {
			e.w.apply(put("a", `{}`))
			di := e.openDoc("a")
			ghost := *di
			ghost.ID = "ghost"
			newGhost := ghost
			newGhost.UpdateSeq = 2
			before := capture(e.t, e.db, exact)
			err := e.db.WriteDocInfos([]engines.DocInfoPair{{Old: &ghost, New: &newGhost}}, nil, nil)
			e.wantErr("WriteDocInfos updating a missing doc", err, engines.ErrInvalidWrite)
			diffSnapshots(e.t, "after a refused write", before, capture(e.t, e.db, exact))
		}},
		{"deep_revision_tree", func(e *env) {
			if err := e.db.SetRevsLimit(5000); err != nil {
				e.t.Fatal(err)
			}
			leaf := e.w.replicate("deep", 2000)
			e.reopen()
			di := e.openDoc("deep")
			if len(di.RevTree) != 1 || di.RevTree[0].Start != 1 || leaves(di.RevTree)[0].id != leaf.ID {
				e.t.Fatal("a 2,000-revision history did not round-trip")
			}
			e.w.apply(put("deep", `{"top":true}`))
			if got := e.winnerBody("deep"); got != `{"top":true}` {
				e.t.Fatalf("body %s", got)
			}
		}},
		{"revs_limit_stemming", func(e *env) {
			if err := e.db.SetRevsLimit(5); err != nil {
				e.t.Fatal(err)
			}
			for i := range 10 {
				e.w.apply(put("a", fmt.Sprintf(`{"v":%d}`, i)))
			}
			di := e.openDoc("a")
			if len(di.RevTree) != 1 || di.RevTree[0].Start != 6 || len(leafPaths(di.RevTree)[0]) != 5 {
				e.t.Fatalf("stemmed tree %s", renderDoc(e.t, e.db, di, exact))
			}
		}},
		{"many_docs_one_batch", func(e *env) {
			fill(e, 1000)
			e.counts(1000, 0, 1000, 0)
			if n, err := e.db.CountChangesSince(500); err != nil || n != 500 {
				e.t.Fatalf("CountChangesSince(500) = %d, %v", n, err)
			}
		}},
		{"size_info_tracks_docs", func(e *env) {
			e.w.apply(put("a", `{"12345":6789}`), put("b", `{}`))
			if got := e.db.SizeInfo().External; got != 14+2 {
				e.t.Fatalf("SizeInfo.External = %d, want 16", got)
			}
			e.w.apply(put("a", `{}`))
			if got := e.db.SizeInfo().External; got != 4 {
				e.t.Fatalf("SizeInfo.External after update = %d, want 4", got)
			}
			if si := e.db.SizeInfo(); si.Active == 0 {
				e.t.Fatalf("SizeInfo.Active = 0 with live docs: %+v", si)
			}
		}},
	}
}

// fill writes n documents doc-0001… in one batch.
func fill(e *env, n int) {
	e.t.Helper()
	ops := make([]op, n)
	for i := range ops {
		ops[i] = put(fmt.Sprintf("doc-%04d", i+1), fmt.Sprintf(`{"i":%d}`, i+1))
	}
	e.w.apply(ops...)
}

func foldIDs(e *env, o engines.FoldOptions) []string {
	e.t.Helper()
	out := []string{}
	if err := e.db.FoldDocs(o, func(di *engines.DocInfo) error {
		out = append(out, di.ID)
		return nil
	}); err != nil {
		e.t.Fatalf("FoldDocs(%+v): %v", o, err)
	}
	return out
}

func foldLocalIDs(e *env, o engines.FoldOptions) []string {
	e.t.Helper()
	out := []string{}
	if err := e.db.FoldLocalDocs(o, func(ld *engines.LocalDoc) error {
		out = append(out, ld.ID)
		return nil
	}); err != nil {
		e.t.Fatalf("FoldLocalDocs(%+v): %v", o, err)
	}
	return out
}
