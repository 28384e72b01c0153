package pebble

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/couchfs/couchfs/engines"
)

// TestCheckFindsDamage damages one structure at a time behind the engine's
// back and requires Check to report ErrCorrupt.
func TestCheckFindsDamage(t *testing.T) {
	damages := []struct {
		name   string
		damage func(b *pebble.Batch, st *state)
	}{
		{"changes entry missing", func(b *pebble.Batch, st *state) { _ = b.Delete(seqKey(2), nil) }},
		{"changes entry names another doc", func(b *pebble.Batch, st *state) { _ = b.Set(seqKey(2), []byte("a"), nil) }},
		{"stray changes entry", func(b *pebble.Batch, st *state) { _ = b.Set(seqKey(9), []byte("a"), nil) }},
		{"body missing", func(b *pebble.Batch, st *state) { _ = b.Delete(bodyKey(1), nil) }},
		{"doc count off", func(b *pebble.Batch, st *state) { st.DocCount++ }},
		{"deleted count off", func(b *pebble.Batch, st *state) { st.DelDocCount++ }},
		{"active size off", func(b *pebble.Batch, st *state) { st.ActiveSize++ }},
		{"undecodable doc info", func(b *pebble.Batch, st *state) { _ = b.Set(docKey("a"), []byte{9}, nil) }},
		{"doc info under another id", func(b *pebble.Batch, st *state) {
			_ = b.Set(docKey("z"), engines.AppendDocInfo(nil, testDoc("a", 1, 1)), nil)
		}},
		{"undecodable local doc", func(b *pebble.Batch, st *state) { _ = b.Set(localKey("_local/x"), []byte{7}, nil) }},
		{"purge uuid not indexed", func(b *pebble.Batch, st *state) { _ = b.Delete(purgeUUIDKey("u1"), nil) }},
		{"purge above purge seq", func(b *pebble.Batch, st *state) { st.PurgeSeq = 0 }},
	}
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			eng := New(Options{FS: vfs.NewMem()})
			edb, err := eng.Create("/db.pebble")
			if err != nil {
				t.Fatal(err)
			}
			d := edb.(*db)
			defer d.Close()
			for range 2 {
				if _, _, err := d.WriteDocBody([]byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
			pairs := []engines.DocInfoPair{{New: testDoc("a", 1, 1)}, {New: testDoc("b", 2, 2)}}
			purges := []engines.PurgeInfo{{Seq: 1, UUID: "u1", ID: "gone"}}
			if err := d.WriteDocInfos(pairs, nil, purges); err != nil {
				t.Fatal(err)
			}
			if err := d.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := d.Check(); err != nil {
				t.Fatalf("Check before damage: %v", err)
			}
			st := d.st.Load().clone()
			b := d.cur.Load().pdb.NewBatch()
			tc.damage(b, st)
			d.stateLog.put(b, st)
			if err := b.Commit(pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := d.Check(); !errors.Is(err, engines.ErrCorrupt) {
				t.Fatalf("Check after damage: %v, want ErrCorrupt", err)
			}
		})
	}
}

func testDoc(id string, seq, ptr uint64) *engines.DocInfo {
	return &engines.DocInfo{ID: id, UpdateSeq: seq, RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{
		ID: fmt.Sprintf("r%d", seq), Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: 2},
	}}}}
}

// TestInvalidWritesApplyNothing: every malformed WriteDocInfos is refused
// with ErrInvalidWrite and leaves the database as it was.
func TestInvalidWritesApplyNothing(t *testing.T) {
	a1 := testDoc("a", 1, 1)
	a2 := testDoc("a", 3, 1)
	cases := []struct {
		name   string
		pairs  []engines.DocInfoPair
		purges []engines.PurgeInfo
	}{
		{"new doc that exists", []engines.DocInfoPair{{New: testDoc("a", 3, 1)}}, nil},
		{"stale old", []engines.DocInfoPair{{Old: testDoc("a", 7, 1), New: a2}}, nil},
		{"old for a missing doc", []engines.DocInfoPair{{Old: testDoc("c", 1, 1), New: testDoc("c", 3, 1)}}, nil},
		{"empty pair", []engines.DocInfoPair{{}}, nil},
		{"id change", []engines.DocInfoPair{{Old: a1, New: testDoc("c", 3, 1)}}, nil},
		{"same doc twice", []engines.DocInfoPair{{Old: a1, New: a2}, {Old: a1, New: a2}}, nil},
		{"seq of another doc", []engines.DocInfoPair{{New: testDoc("c", 2, 1)}}, nil},
		{"seq given twice", []engines.DocInfoPair{{New: testDoc("c", 5, 1)}, {New: testDoc("d", 5, 1)}}, nil},
		{"empty rev tree", []engines.DocInfoPair{{New: &engines.DocInfo{ID: "c", UpdateSeq: 4}}}, nil},
		{"purge seq reused", nil, []engines.PurgeInfo{{Seq: 1, UUID: "x", ID: "a"}}},
		{"valid pair, bad purge", []engines.DocInfoPair{{Old: a1, New: a2}}, []engines.PurgeInfo{{Seq: 1, UUID: "x"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edb, err := New(Options{FS: vfs.NewMem()}).Create("/db.pebble")
			if err != nil {
				t.Fatal(err)
			}
			defer edb.Close()
			if _, _, err := edb.WriteDocBody([]byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			err = edb.WriteDocInfos([]engines.DocInfoPair{{New: a1}, {New: testDoc("b", 2, 1)}}, nil,
				[]engines.PurgeInfo{{Seq: 1, UUID: "u", ID: "gone"}})
			if err != nil {
				t.Fatal(err)
			}
			err = edb.WriteDocInfos(tc.pairs, nil, tc.purges)
			if !errors.Is(err, engines.ErrInvalidWrite) {
				t.Fatalf("WriteDocInfos: %v, want ErrInvalidWrite", err)
			}
			if edb.UpdateSeq() != 2 || edb.DocCount() != 2 || edb.PurgeSeq() != 1 {
				t.Fatalf("after a refused write: seq %d docs %d purge seq %d", edb.UpdateSeq(), edb.DocCount(), edb.PurgeSeq())
			}
			dis, err := edb.OpenDocs([]string{"a"})
			if err != nil || dis[0] == nil || dis[0].UpdateSeq != 1 {
				t.Fatalf("doc a after a refused write: %v, %v", dis, err)
			}
			if err := edb.(*db).Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
