package couchfile

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// TestEncodedBodies writes bodies encoded ahead (engines.BodyEncoder) beside
// plain ones and reads every one back after a commit and a reopen; bytes
// that are not an encoded body are refused and change nothing.
func TestEncodedBodies(t *testing.T) {
	eng, db, path := testDB(t, Options{})
	bodies := [][]byte{
		[]byte(`{}`),
		[]byte(`{"short":1}`),
		bytes.Repeat([]byte(`{"compressible":"aaaaaaaaaaaaaaaaaaaaaaaa"}`), 40),
		bigBody("big"),
	}
	var ptrs []uint64
	for i, b := range bodies {
		// Encoded by another DB of the engine: the encoding is the engine's.
		other := &DB{}
		enc := other.EncodeDocBody(b)
		ptr, size, err := db.WriteEncodedDocBody(enc)
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		plainPtr, plainSize, err := db.WriteDocBody(b)
		if err != nil {
			t.Fatal(err)
		}
		if size != plainSize {
			t.Errorf("body %d: encoded ahead stores %d bytes, written plain %d", i, size, plainSize)
		}
		ptrs = append(ptrs, ptr, plainPtr)
	}
	for _, bad := range [][]byte{nil, {kindBody<<4 | 0x0f}, {0x00, 'x'}, {kindBody<<4 | encPacked, 'x'}} {
		before := db.st.end
		if _, _, err := db.WriteEncodedDocBody(bad); !errors.Is(err, engines.ErrInvalidWrite) {
			t.Errorf("WriteEncodedDocBody(%q): %v, want ErrInvalidWrite", bad, err)
		}
		if db.st.end != before {
			t.Errorf("WriteEncodedDocBody(%q) appended %d bytes", bad, db.st.end-before)
		}
	}
	// Doc infos that reference every body, so that the commit keeps them.
	var pairs []engines.DocInfoPair
	for i, ptr := range ptrs {
		seq := uint64(i + 1)
		pairs = append(pairs, engines.DocInfoPair{New: &engines.DocInfo{
			ID: fmt.Sprintf("doc-%d", i), UpdateSeq: seq,
			RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{
				ID: fmt.Sprintf("%032x", seq), Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: uint64(len(bodies[i/2]))},
			}}},
		}})
	}
	if err := db.WriteDocInfos(pairs, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	check := func(d *DB) {
		t.Helper()
		for i, ptr := range ptrs {
			got, err := d.ReadDocBody(ptr)
			if err != nil {
				t.Fatalf("body %d: %v", i/2, err)
			}
			if !bytes.Equal(got, bodies[i/2]) {
				t.Fatalf("body %d reads %.40q, want %.40q", i/2, got, bodies[i/2])
			}
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	edb, err := eng.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer edb.Close()
	check(edb.(*DB))
}

// TestStoredOldAfterCompaction checks that the very doc info a write stored
// is refused as Old once a compaction has moved its bodies.
func TestStoredOldAfterCompaction(t *testing.T) {
	_, db, _ := testDB(t, Options{})
	body := []byte(`{"v":1}`)
	ptr, size, err := db.WriteDocBody(body)
	if err != nil {
		t.Fatal(err)
	}
	first := &engines.DocInfo{ID: "a", UpdateSeq: 1, RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{
		ID: fmt.Sprintf("%032x", 1), Value: &engines.RevValue{Ptr: ptr, Seq: 1, Size: size},
	}}}}
	if err := db.WriteDocInfos([]engines.DocInfoPair{{New: first}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	second := func(old *engines.DocInfo, seq uint64) error {
		next := *old
		next.UpdateSeq = seq
		return db.WriteDocInfos([]engines.DocInfoPair{{Old: old, New: &next}}, nil, nil)
	}
	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := second(first, 2); !errors.Is(err, engines.ErrInvalidWrite) {
		t.Fatalf("writing over the doc info stored before the compaction: %v, want ErrInvalidWrite", err)
	}
	dis, err := db.OpenDocs([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := second(dis[0], 2); err != nil {
		t.Fatalf("writing over the doc info read after the compaction: %v", err)
	}
}
