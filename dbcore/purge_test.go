package dbcore_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
)

func TestPurge(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		ra := update(t, db, "a", "", `{"a":1}`)
		rb1 := update(t, db, "b", "", `{"b":1}`)
		rb2 := update(t, db, "b", rb1, `{"b":2}`)
		x, y := hexRev("1"), hexRev("2")
		replicate(t, db, "c", rev(1, x), nil, false, `{"c":"x"}`)
		replicate(t, db, "c", rev(1, y), nil, false, `{"c":"y"}`)
		rd := update(t, db, "d", "", `{}`)
		rd, err := db.DeleteDoc("d", rd)
		if err != nil {
			t.Fatal(err)
		}
		update(t, db, "e", "", `{}`)

		type step struct {
			name    string
			req     map[string][]string
			purged  map[string][]string
			gone    []string // ids no longer stored at all
			moved   []string // ids that move to the end of the feed, in id order
			ids     int      // purge infos recorded
			live    uint64   // doc_count after
			deleted uint64   // doc_del_count after
		}
		steps := []step{
			{
				name:   "full purge of a live doc",
				req:    map[string][]string{"a": {ra}},
				purged: map[string][]string{"a": {ra}},
				gone:   []string{"a"}, ids: 1, live: 3, deleted: 1,
			},
			{
				name:   "a non-leaf revision is ignored",
				req:    map[string][]string{"b": {rb1}},
				purged: map[string][]string{"b": {}},
				ids:    1, live: 3, deleted: 1,
			},
			{
				name:   "partial purge of a conflict",
				req:    map[string][]string{"c": {rev(1, y)}},
				purged: map[string][]string{"c": {rev(1, y)}},
				moved:  []string{"c"}, ids: 1, live: 3, deleted: 1,
			},
			{
				name:   "several ids, a missing one and an unknown rev",
				req:    map[string][]string{"d": {rd}, "missing": {"1-abc"}, "e": {"9-abc"}},
				purged: map[string][]string{"d": {rd}, "missing": {}, "e": {}},
				gone:   []string{"d"}, ids: 3, live: 3, deleted: 0,
			},
			{
				// CouchDB rebuilds the tree from the remaining leaf paths:
				// the parent of the only leaf does not become a leaf.
				name:   "purge the only leaf of a multi-rev doc",
				req:    map[string][]string{"b": {rb2, rb1}},
				purged: map[string][]string{"b": {rb2}},
				gone:   []string{"b"}, ids: 1, live: 2, deleted: 0,
			},
		}
		for _, s := range steps {
			before := mustInfo(t, db)
			feed := changes(t, db, 0, 0)
			got, err := db.Purge(s.req)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if !reflect.DeepEqual(got, s.purged) {
				t.Errorf("%s: purged %v, want %v", s.name, got, s.purged)
			}
			after := mustInfo(t, db)
			if after.PurgeSeq != before.PurgeSeq+uint64(s.ids) {
				t.Errorf("%s: purge_seq %d → %d, want +%d", s.name, before.PurgeSeq, after.PurgeSeq, s.ids)
			}
			if after.UpdateSeq <= before.UpdateSeq {
				t.Errorf("%s: update_seq %d → %d did not advance", s.name, before.UpdateSeq, after.UpdateSeq)
			}
			if after.DocCount != s.live || after.DocDelCount != s.deleted {
				t.Errorf("%s: counts %d/%d, want %d/%d", s.name, after.DocCount, after.DocDelCount, s.live, s.deleted)
			}
			for _, id := range s.gone {
				_, err := db.DocInfo(id)
				wantErr(t, s.name+": DocInfo of "+id, err, dbcore.ErrNotFound)
				_, err = db.LastChange(id)
				wantErr(t, s.name+": LastChange of "+id, err, dbcore.ErrNotFound)
				for _, r := range allDocs(t, db) {
					if r.ID == id {
						t.Errorf("%s: %s still in AllDocs", s.name, id)
					}
				}
			}
			// The feed: gone ids drop out, moved ids go to the end with
			// new sequences, the rest keep their rows.
			var want []string
			for _, c := range feed {
				if !slices.Contains(s.gone, c.ID) && !slices.Contains(s.moved, c.ID) {
					want = append(want, c.ID)
				}
			}
			want = append(want, s.moved...)
			now := changes(t, db, 0, 0)
			if ids := changeIDs(now); !slices.Equal(ids, want) {
				t.Errorf("%s: feed %q, want %q", s.name, ids, want)
			}
			if len(s.moved) > 0 && now[len(now)-1].Seq != after.UpdateSeq {
				t.Errorf("%s: moved doc at seq %d, update_seq %d", s.name, now[len(now)-1].Seq, after.UpdateSeq)
			}
		}
		// c kept its other leaf and has no conflict left.
		if got := mustGet(t, db, "c"); got.Rev != rev(1, x) || len(got.Conflicts) != 0 {
			t.Errorf("c after partial purge: %s conflicts %q", got.Rev, got.Conflicts)
		}
		_, err = db.GetRev("b", rb1)
		wantErr(t, "GetRev of the parent of a purged leaf", err, dbcore.ErrNotFound)
		// A purged id can be created afresh.
		if r := update(t, db, "a", "", `{"a":"new"}`); revPos(t, r) != 1 {
			t.Errorf("recreated purged doc at %s", r)
		}
	})
}

func TestPurgeJSON(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		r := update(t, db, "doc", "", `{}`)
		for _, bad := range []string{`[]`, `null`, `"x"`, `{`, `{"doc":"x"}`, `{"doc":[1]}`, `{"doc":["bad"]}`, `{"_local/x":["1-abc"]}`, `{"_bad":[]}`} {
			seq := db.UpdateSeq()
			_, err := db.PurgeJSON([]byte(bad))
			if !errors.Is(err, dbcore.ErrInvalidArgument) {
				t.Errorf("PurgeJSON(%s) = %v, want ErrInvalidArgument", bad, err)
			}
			if info := mustInfo(t, db); info.PurgeSeq != 0 || info.UpdateSeq != seq || info.DocCount != 1 {
				t.Errorf("rejected purge %s changed %+v", bad, info)
			}
		}
		out, err := db.PurgeJSON([]byte(`{"doc":["` + r + `"],"other":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			PurgeSeq uint64              `json:"purge_seq"`
			Purged   map[string][]string `json:"purged"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("PurgeJSON response %s: %v", out, err)
		}
		if resp.PurgeSeq != 2 || !reflect.DeepEqual(resp.Purged, map[string][]string{"doc": {r}, "other": {}}) {
			t.Errorf("PurgeJSON = %s", out)
		}
		// An empty request purges nothing.
		out, err = db.PurgeJSON([]byte(`{}`))
		if err != nil || string(out) != `{"purge_seq":2,"purged":{}}` {
			t.Errorf("PurgeJSON({}) = %s, %v", out, err)
		}
	})
}
