package enginetest

import (
	"bytes"
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// compactionCases port cpse_test_compaction for engines that implement
// Compacter. CouchDB suspends its compactor process to interleave writes;
// here writes go between StartCompaction (and its Done) and Finish, which is
// the same window.
func compactionCases(p *env) []testCase {
	if !p.caps.compacter {
		return nil
	}
	return []testCase{
		{"compact_empty", func(e *env) {
			compact(e)
			e.counts(0, 0, 0, 0)
		}},
		{"compact_doc", func(e *env) {
			e.w.apply(put("foo", `{"vsn":1}`))
			compact(e)
		}},
		{"compact_local_doc", func(e *env) {
			e.w.apply(localPut("_local/foo", `{"vsn":1}`))
			compact(e)
		}},
		{"compact_with_everything", func(e *env) {
			if err := e.db.SetRevsLimit(500); err != nil {
				e.t.Fatal(err)
			}
			if err := e.db.SetSecurity([]byte(`{"members":{"roles":["x"]}}`)); err != nil {
				e.t.Fatal(err)
			}
			fill(e, 300)
			var locals []op
			for i := range 25 {
				locals = append(locals, localPut(fmt.Sprintf("_local/%02d", i), `{"l":true}`))
			}
			e.w.apply(locals...)
			for i := 1; i <= 40; i++ {
				e.w.apply(put(fmt.Sprintf("doc-%04d", i), fmt.Sprintf(`{"update":%d}`, i)))
			}
			e.w.apply(conflict("doc-0050", `{"conflict":true}`))
			e.w.apply(del("doc-0060"))
			e.w.purge(purgeReq{"p1", "doc-0070", revs(leafRev(e, "doc-0070"))},
				purgeReq{"p2", "doc-0071", revs(leafRev(e, "doc-0071"))})
			e.w.replicate("deep", 200)
			compact(e)
			if e.db.RevsLimit() != 500 || string(e.db.Security()) != `{"members":{"roles":["x"]}}` {
				e.t.Fatal("compaction lost the revs limit or the security object")
			}
		}},
		{"recompact_updates", func(e *env) {
			fill(e, 50)
			c := startAndWait(e)
			e.w.apply(put("doc-0003", `{"during":1}`), put("new-doc", `{"during":2}`))
			e.w.apply(del("doc-0004"), localPut("_local/during", `{}`))
			before := capture(e.t, e.db, compactedView)
			if err := c.Finish(); err != nil {
				e.t.Fatalf("Finish: %v", err)
			}
			diffSnapshots(e.t, "writes during compaction", compacted(e, before), capture(e.t, e.db, compactedView))
			requireNoInteriorValues(e)
		}},
		{"purge_during_compact", func(e *env) {
			fill(e, 30)
			e.w.apply(conflict("doc-0001", `{"c":1}`))
			c := startAndWait(e)
			e.w.purge(purgeReq{"p1", "doc-0001", revs(leafRev(e, "doc-0001"))},
				purgeReq{"p2", "doc-0002", revs(leafRev(e, "doc-0002"))})
			before := capture(e.t, e.db, compactedView)
			if err := c.Finish(); err != nil {
				e.t.Fatalf("Finish: %v", err)
			}
			diffSnapshots(e.t, "purge during compaction", compacted(e, before), capture(e.t, e.db, compactedView))
			e.counts(29, 0, 32, 2)
		}},
		{"multiple_purge_during_compact", func(e *env) {
			fill(e, 30)
			c := startAndWait(e)
			e.w.purge(purgeReq{"p1", "doc-0001", revs(leafRev(e, "doc-0001"))})
			e.w.purge(purgeReq{"p2", "doc-0002", revs(leafRev(e, "doc-0002"))})
			e.w.apply(put("doc-0003", `{"v":2}`))
			before := capture(e.t, e.db, compactedView)
			if err := c.Finish(); err != nil {
				e.t.Fatalf("Finish: %v", err)
			}
			diffSnapshots(e.t, "purges during compaction", compacted(e, before), capture(e.t, e.db, compactedView))
			e.counts(28, 0, 33, 2)
		}},
		{"compact_purged_docs_limit", func(e *env) {
			fill(e, 1200)
			for lo := 1; lo <= 1200; lo += 400 {
				var reqs []purgeReq
				for i := lo; i < lo+400; i++ {
					id := fmt.Sprintf("doc-%04d", i)
					reqs = append(reqs, purgeReq{fmt.Sprintf("u%d", i), id, revs(leafRev(e, id))})
				}
				e.w.purge(reqs...)
			}
			if got := e.purgeInfos(0); len(got) != 1200 || got[0].Seq != 1 {
				e.t.Fatalf("before compaction: %d purge infos, want all 1200", len(got))
			}
			compact(e)
			got := e.purgeInfos(0)
			if uint64(len(got)) != e.db.PurgeInfosLimit() || got[0].Seq != 1200-e.db.PurgeInfosLimit()+1 {
				e.t.Fatalf("after compaction: %d purge infos from %d, want the newest %d", len(got), got[0].Seq, e.db.PurgeInfosLimit())
			}
		}},
		{"purge_infos_limit_small", func(e *env) {
			if err := e.db.SetPurgeInfosLimit(3); err != nil {
				e.t.Fatal(err)
			}
			for i := 1; i <= 10; i++ {
				e.w.purge(purgeReq{fmt.Sprintf("u%d", i), "gone", nil})
			}
			compact(e)
			got := e.purgeInfos(0)
			if len(got) != 3 || got[0].Seq != 8 {
				e.t.Fatalf("after compaction with limit 3: %v", got)
			}
			e.w.purge(purgeReq{"u11", "gone", nil})
			if got := e.purgeInfos(7); len(got) != 4 || got[3].Seq != 11 {
				e.t.Fatalf("purging after compaction: %v", got)
			}
		}},
		{"interior_bodies_dropped", func(e *env) {
			for i := range 5 {
				e.w.apply(put("a", fmt.Sprintf(`{"v":%d}`, i)))
			}
			e.w.apply(conflict("a", `{"other":1}`))
			interior := e.openDoc("a")
			compact(e)
			if got := e.winnerBody("a"); got != `{"v":4}` {
				e.t.Fatalf("winner body after compaction %s", got)
			}
			if len(leaves(e.openDoc("a").RevTree)) != 2 {
				e.t.Fatal("compaction lost a conflict leaf")
			}
			// The updater's cached Old is stale after compaction: it
			// must re-read. Writing with the stale one is refused.
			stale := *interior
			newer := stale
			newer.UpdateSeq = 100
			err := e.db.WriteDocInfos([]engines.DocInfoPair{{Old: &stale, New: &newer}}, nil, nil)
			e.wantErr("write with an Old read before compaction", err, engines.ErrInvalidWrite)
			e.w.apply(put("a", `{"v":5}`))
		}},
		{"compaction_already_running", func(e *env) {
			fill(e, 10)
			c := startAndWait(e)
			_, err := e.db.(engines.Compacter).StartCompaction()
			e.wantErr("second StartCompaction", err, engines.ErrCompactionRunning)
			if err := c.Finish(); err != nil {
				e.t.Fatal(err)
			}
			compact(e)
		}},
		{"cancel_compaction", func(e *env) {
			fill(e, 20)
			e.w.apply(put("doc-0001", `{"v":2}`))
			before := capture(e.t, e.db, exact)
			c := startAndWait(e)
			if err := c.Cancel(); err != nil {
				e.t.Fatalf("Cancel: %v", err)
			}
			diffSnapshots(e.t, "after Cancel", before, capture(e.t, e.db, exact))
			compact(e)
		}},
		{"compact_twice_then_write", func(e *env) {
			fill(e, 20)
			for i := range 3 {
				e.w.apply(put("doc-0002", fmt.Sprintf(`{"v":%d}`, i)))
			}
			compact(e)
			compact(e)
			e.w.apply(put("doc-0002", `{"after":true}`), put("doc-0021", `{}`))
			e.counts(21, 0, 25, 0)
		}},
		{"compact_then_reopen_then_compact", func(e *env) {
			fill(e, 20)
			e.w.apply(put("doc-0005", `{"v":2}`))
			compact(e)
			e.reopen()
			e.w.apply(put("doc-0005", `{"v":3}`))
			compact(e)
			if got := e.winnerBody("doc-0005"); got != `{"v":3}` {
				e.t.Fatalf("body %s", got)
			}
		}},
		{"large_bodies_survive_compaction", func(e *env) {
			big := bytes.Repeat([]byte(`{"pad":"`+string(bytes.Repeat([]byte("x"), 1000))+`"},`), 100)
			body := `[` + string(big[:len(big)-1]) + `]`
			e.w.apply(put("big", body))
			e.w.apply(put("big", body+" "))
			compact(e)
			if got := e.winnerBody("big"); got != body+" " {
				e.t.Fatalf("big body after compaction: %d bytes", len(got))
			}
		}},
	}
}
