package enginetest

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

func revs(rs ...engines.Rev) []engines.Rev { return rs }

// wantRemoved compares what purge requests removed.
func wantRemoved(e *env, got [][]engines.Rev, want ...[]engines.Rev) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Fatalf("%d purge results, want %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			e.t.Fatalf("purge request %d removed %v, want %v", i, got[i], want[i])
		}
	}
}

// purgeDocsCases port cpse_test_purge_docs. The request bookkeeping
// (replies, UUID idempotency) is dbcore's; what the engine must get right is
// storing the resulting doc infos, changes and purge infos.
func purgeDocsCases(*env) []testCase {
	return []testCase{
		{"purge_simple", func(e *env) {
			r := e.w.apply(put("foo1", `{"vsn":1.1}`))[0]
			e.counts(1, 0, 1, 0)
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo1", revs(r)}), revs(r))
			e.counts(0, 0, 2, 1)
			if e.openDoc("foo1") != nil || len(e.changes(0)) != 0 {
				e.t.Fatal("a fully purged doc is still visible")
			}
		}},
		{"purge_simple_info_check", func(e *env) {
			r := e.w.apply(put("foo1", `{}`))[0]
			e.w.purge(purgeReq{"uuid1", "foo1", revs(r)})
			got := e.purgeInfos(0)
			want := []engines.PurgeInfo{{Seq: 1, UUID: "uuid1", ID: "foo1", Revs: revs(r)}}
			if len(got) != 1 || renderPurge(got[0]) != renderPurge(want[0]) {
				e.t.Fatalf("purge infos %v, want %v", got, want)
			}
		}},
		{"purge_empty_db", func(e *env) {
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo", revs(engines.Rev{Pos: 1, ID: "aaaa"})}), nil)
			e.counts(0, 0, 1, 1)
			if n, _ := e.db.CountChangesSince(0); n != 0 {
				e.t.Fatalf("CountChangesSince(0) = %d", n)
			}
		}},
		{"purge_single_docid", func(e *env) {
			rs := e.w.apply(put("foo1", `{}`), put("foo2", `{}`))
			e.w.purge(purgeReq{"uuid1", "foo1", revs(rs[0])})
			e.counts(1, 0, 3, 1)
			if got := e.changes(0); !slices.Equal(got, []string{"foo2@2"}) {
				e.t.Fatalf("changes %q", got)
			}
		}},
		{"purge_multiple_docids", func(e *env) {
			rs := e.w.apply(put("foo1", `{}`), put("foo2", `{}`))
			e.w.purge(purgeReq{"uuid1", "foo1", revs(rs[0])}, purgeReq{"uuid2", "foo2", revs(rs[1])})
			e.counts(0, 0, 3, 2)
		}},
		{"purge_no_docids", func(e *env) {
			e.w.apply(put("foo1", `{}`))
			e.w.purge()
			e.counts(1, 0, 1, 0)
			if len(e.purgeInfos(0)) != 0 {
				e.t.Fatal("an empty purge stored purge infos")
			}
		}},
		{"purge_rev_path", func(e *env) {
			e.w.apply(put("foo", `{}`))
			r := e.w.apply(del("foo"))[0]
			e.counts(0, 1, 2, 0)
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo", revs(r)}), revs(r))
			e.counts(0, 0, 3, 1)
		}},
		{"purge_deep_revision_path", func(e *env) {
			leaf := e.w.replicate("foo", 101)
			e.counts(1, 0, 1, 0)
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo", revs(leaf)}), revs(leaf))
			e.counts(0, 0, 2, 1)
			if e.openDoc("foo") != nil {
				e.t.Fatal("doc survived purging its only leaf")
			}
		}},
		{"purge_partial_revs", func(e *env) {
			r1 := e.w.apply(put("foo", `{"vsn":1}`))[0]
			r2 := e.w.apply(conflict("foo", `{"vsn":2}`))[0]
			e.counts(1, 0, 2, 0)
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo", revs(r1)}), revs(r1))
			e.counts(1, 0, 3, 1)
			di := e.openDoc("foo")
			ls := leaves(di.RevTree)
			if len(ls) != 1 || ls[0].id != r2.ID || ls[0].value.Seq != 3 || di.UpdateSeq != 3 {
				e.t.Fatalf("partially purged doc %s", renderDoc(e.t, e.db, di, exact))
			}
			if got := e.changes(0); !slices.Equal(got, []string{"foo@3"}) {
				e.t.Fatalf("changes %q", got)
			}
		}},
		{"purge_missing_docid", func(e *env) {
			rs := e.w.apply(put("foo1", `{}`), put("foo2", `{}`))
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "baz", revs(rs[0])}), nil)
			e.counts(2, 0, 3, 1)
		}},
		{"purge_duplicate_docids", func(e *env) {
			rs := e.w.apply(put("foo1", `{}`), put("foo2", `{}`))
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo1", revs(rs[0])}, purgeReq{"uuid2", "foo1", revs(rs[0])}),
				revs(rs[0]), nil)
			e.counts(1, 0, 3, 2)
			if n := len(e.purgeInfos(0)); n != 2 {
				e.t.Fatalf("%d purge infos, want 2", n)
			}
		}},
		{"purge_internal_revision", func(e *env) {
			r1 := e.w.apply(put("foo", `{"vsn":1}`))[0]
			e.w.apply(put("foo", `{"vsn":2}`))
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo", revs(r1)}), nil)
			e.counts(1, 0, 3, 1)
			if got := e.winnerBody("foo"); got != `{"vsn":2}` {
				e.t.Fatalf("body %s", got)
			}
		}},
		{"purge_missing_revision", func(e *env) {
			rs := e.w.apply(put("foo1", `{}`), put("foo2", `{}`))
			wantRemoved(e, e.w.purge(purgeReq{"uuid1", "foo1", revs(rs[1])}), nil)
			e.counts(2, 0, 3, 1)
		}},
		{"purge_repeated_revisions", func(e *env) {
			r1 := e.w.apply(put("foo", `{"vsn":1}`))[0]
			r2 := e.w.apply(conflict("foo", `{"vsn":2}`))[0]
			got := e.w.purge(purgeReq{"uuid1", "foo", revs(r1)}, purgeReq{"uuid2", "foo", revs(r1, r2)})
			wantRemoved(e, got, revs(r1), revs(r2))
			e.counts(0, 0, 3, 2)
			if e.openDoc("foo") != nil {
				e.t.Fatal("doc survived losing both leaves")
			}
		}},
		{"purge_then_recreate", func(e *env) {
			r := e.w.apply(put("foo", `{"vsn":1}`))[0]
			e.w.purge(purgeReq{"uuid1", "foo", revs(r)})
			r2 := e.w.apply(put("foo", `{"vsn":"new"}`))[0]
			if r2.Pos != 1 {
				e.t.Fatalf("recreated doc at rev %d, want 1", r2.Pos)
			}
			e.counts(1, 0, 3, 1)
			if got := e.changes(0); !slices.Equal(got, []string{"foo@3"}) {
				e.t.Fatalf("changes %q", got)
			}
		}},
		{"purge_many_docs_one_batch", func(e *env) {
			fill(e, 200)
			var reqs []purgeReq
			for i := 1; i <= 200; i += 2 {
				id := fmt.Sprintf("doc-%04d", i)
				reqs = append(reqs, purgeReq{fmt.Sprintf("u%d", i), id, revs(leafRev(e, id))})
			}
			e.w.purge(reqs...)
			e.counts(100, 0, 201, 100)
			if n, _ := e.db.CountChangesSince(0); n != 100 {
				e.t.Fatalf("CountChangesSince(0) = %d", n)
			}
		}},
	}
}

// leafRev returns the winning leaf revision of id.
func leafRev(e *env, id string) engines.Rev {
	e.t.Helper()
	di := e.openDoc(id)
	if di == nil {
		e.t.Fatalf("doc %q missing", id)
	}
	l := leaves(di.RevTree)[0]
	return engines.Rev{Pos: l.pos, ID: l.id}
}

// purgeSeqsCases port cpse_test_purge_seqs.
func purgeSeqsCases(*env) []testCase {
	return []testCase{
		{"increment_purge_seq_on_complete_purge", func(e *env) {
			rs := e.w.apply(put("foo1", `{}`), put("foo2", `{}`))
			e.w.purge(purgeReq{"uuid1", "foo1", revs(rs[0])})
			e.counts(1, 0, 3, 1)
			e.w.purge(purgeReq{"uuid2", "foo2", revs(rs[1])})
			e.counts(0, 0, 4, 2)
		}},
		{"increment_purge_multiple_times", func(e *env) {
			rs := e.w.apply(put("foo1", `{}`), put("foo2", `{}`))
			e.w.purge(purgeReq{"uuid1", "foo1", revs(rs[0])}, purgeReq{"uuid2", "foo2", revs(rs[1])})
			e.counts(0, 0, 3, 2)
		}},
		{"increment_purge_seq_on_partial_purge", func(e *env) {
			r1 := e.w.apply(put("foo1", `{}`))[0]
			e.w.apply(conflict("foo1", `{"c":1}`))
			e.w.purge(purgeReq{"uuid1", "foo1", revs(r1)})
			e.counts(1, 0, 3, 1)
		}},
	}
}

// foldPurgeInfosCases port cpse_test_fold_purge_infos.
func foldPurgeInfosCases(*env) []testCase {
	return []testCase{
		{"empty_purged_docs", func(e *env) {
			if got := e.purgeInfos(0); len(got) != 0 {
				e.t.Fatalf("purge infos of a fresh db: %v", got)
			}
		}},
		{"all_purged_docs", func(e *env) {
			fill(e, 100)
			var reqs []purgeReq
			for i := 100; i >= 1; i-- { // request order, not ID order
				id := fmt.Sprintf("doc-%04d", i)
				reqs = append(reqs, purgeReq{fmt.Sprintf("uuid-%d", i), id, revs(leafRev(e, id))})
			}
			e.w.purge(reqs...)
			got := e.purgeInfos(0)
			if len(got) != 100 {
				e.t.Fatalf("%d purge infos, want 100", len(got))
			}
			for i, pi := range got {
				if pi.Seq != uint64(i+1) || pi.UUID != reqs[i].uuid || pi.ID != reqs[i].id || !slices.Equal(pi.Revs, reqs[i].revs) {
					e.t.Fatalf("purge info %d = %v, want request %v", i, pi, reqs[i])
				}
			}
			e.counts(0, 0, 101, 100)
		}},
		{"start_seq", func(e *env) {
			fill(e, 5)
			for i := 1; i <= 5; i++ {
				id := fmt.Sprintf("doc-%04d", i)
				e.w.purge(purgeReq{fmt.Sprintf("uuid-%d", i), id, revs(leafRev(e, id))})
			}
			got := e.purgeInfos(3)
			if len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 || got[0].ID != "doc-0004" {
				e.t.Fatalf("purge infos since 3: %v", got)
			}
			if got := e.purgeInfos(5); len(got) != 0 {
				e.t.Fatalf("purge infos since 5: %v", got)
			}
		}},
		{"id_rev_repeated", func(e *env) {
			r1 := e.w.apply(put("foo", `{"vsn":1}`))[0]
			e.w.apply(conflict("foo", `{"vsn":2}`))
			e.w.purge(purgeReq{"uuid1", "foo", revs(r1)})
			e.counts(1, 0, 3, 1)
			// The same id and rev again under a new UUID: a no-op that
			// still records a purge info.
			wantRemoved(e, e.w.purge(purgeReq{"uuid2", "foo", revs(r1)}), nil)
			e.counts(1, 0, 4, 2)
			r3 := leafRev(e, "foo")
			e.w.purge(purgeReq{"uuid3", "foo", revs(r3)})
			e.counts(0, 0, 5, 3)
			wantRemoved(e, e.w.purge(purgeReq{"uuid4", "foo", revs(r3)}), nil)
			e.counts(0, 0, 6, 4)
			if n := len(e.purgeInfos(0)); n != 4 {
				e.t.Fatalf("%d purge infos, want 4", n)
			}
		}},
		{"stop_fold", func(e *env) {
			e.w.purge(purgeReq{"u1", "a", nil}, purgeReq{"u2", "b", nil}, purgeReq{"u3", "c", nil})
			n := 0
			err := e.db.FoldPurgeInfos(0, func(engines.PurgeInfo) error {
				n++
				return engines.ErrStopFold
			})
			if err != nil || n != 1 {
				e.t.Fatalf("FoldPurgeInfos stopped after %d, %v", n, err)
			}
		}},
	}
}

// copyPurgeInfosCases port cpse_test_copy_purge_infos: purge infos written
// without document changes, as a database copy does.
func copyPurgeInfosCases(*env) []testCase {
	return []testCase{
		{"copy_empty_purged_info", func(e *env) {
			e.w.write(nil, nil, []engines.PurgeInfo{})
			if len(e.purgeInfos(0)) != 0 || e.db.PurgeSeq() != 0 {
				e.t.Fatal("copying no purge infos stored some")
			}
		}},
		{"copy_purged_info", func(e *env) {
			src := e.create(filepath.Join(e.t.TempDir(), "src"+e.eng.Ext()))
			srcW := newWriter(e.t, func() engines.DB { return src })
			var reqs []purgeReq
			for i := 1; i <= 100; i++ {
				id := fmt.Sprintf("doc-%04d", i)
				r := srcW.apply(put(id, `{}`))[0]
				reqs = append(reqs, purgeReq{fmt.Sprintf("uuid-%d", i), id, revs(r)})
			}
			srcW.purge(reqs...)
			var infos []engines.PurgeInfo
			if err := src.FoldPurgeInfos(0, func(pi engines.PurgeInfo) error {
				infos = append(infos, pi)
				return nil
			}); err != nil {
				e.t.Fatal(err)
			}
			if err := src.Close(); err != nil {
				e.t.Fatal(err)
			}
			e.w.write(nil, nil, infos)
			if e.db.PurgeSeq() != 100 || e.db.UpdateSeq() != 0 {
				e.t.Fatalf("PurgeSeq %d UpdateSeq %d after copying 100 purge infos", e.db.PurgeSeq(), e.db.UpdateSeq())
			}
			got := e.purgeInfos(0)
			if len(got) != len(infos) {
				e.t.Fatalf("%d purge infos, want %d", len(got), len(infos))
			}
			for i := range got {
				if renderPurge(got[i]) != renderPurge(infos[i]) {
					e.t.Fatalf("purge info %d = %v, want %v", i, got[i], infos[i])
				}
			}
		}},
	}
}
