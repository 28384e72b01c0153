package engines_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// linear returns a single-branch history of depth revisions, bodies on
// every node, starting at position start.
func linear(depth int, start uint64) engines.RevTree {
	root := &engines.RevNode{ID: "r0", Value: &engines.RevValue{Ptr: 1, Seq: 1, Size: 2}}
	n := root
	for i := 1; i < depth; i++ {
		c := &engines.RevNode{ID: "r" + strings.Repeat("x", i%7), Value: &engines.RevValue{Ptr: uint64(i), Seq: uint64(i), Size: 3}}
		n.Children = []*engines.RevNode{c}
		n = c
	}
	return engines.RevTree{{Start: start, Root: root}}
}

func wide(n int) engines.RevTree {
	root := &engines.RevNode{ID: "root"}
	for i := range n {
		root.Children = append(root.Children, &engines.RevNode{ID: string(rune('a'+i%26)) + strings.Repeat("z", i/26),
			Value: &engines.RevValue{Deleted: i%2 == 0, Ptr: uint64(i), Seq: uint64(i), Size: uint64(i)}})
	}
	return engines.RevTree{{Start: 3, Root: root}}
}

var docInfos = []struct {
	name string
	di   engines.DocInfo
}{
	{"zero", engines.DocInfo{}},
	{"empty_tree", engines.DocInfo{ID: "a", UpdateSeq: 1}},
	{"one_rev", engines.DocInfo{ID: "doc", UpdateSeq: 7, ActiveSize: 10, ExternalSize: 12,
		RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{ID: "0123456789abcdef0123456789abcdef",
			Value: &engines.RevValue{Ptr: 42, Seq: 7, Size: 12}}}}}},
	{"tombstone", engines.DocInfo{ID: "gone", UpdateSeq: 2, Deleted: true,
		RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{ID: "a", Children: []*engines.RevNode{
			{ID: "b", Value: &engines.RevValue{Deleted: true, Ptr: 2, Seq: 2, Size: 2}}}}}}}},
	{"nil_values_and_conflicts", engines.DocInfo{ID: "c", UpdateSeq: 9, RevTree: engines.RevTree{
		{Start: 1, Root: &engines.RevNode{ID: "x", Children: []*engines.RevNode{
			{ID: "y1", Value: &engines.RevValue{Ptr: 5, Seq: 4, Size: 1}},
			{ID: "y2", Children: []*engines.RevNode{{ID: "z", Value: &engines.RevValue{Deleted: true, Seq: 9}}}}}}},
		{Start: 4, Root: &engines.RevNode{ID: "stemmed", Value: &engines.RevValue{Ptr: 8, Seq: 8, Size: 8}}}}}},
	{"max_values", engines.DocInfo{ID: "\x00\xff\u00e9", UpdateSeq: math.MaxUint64, ActiveSize: math.MaxUint64, ExternalSize: math.MaxUint64,
		RevTree: engines.RevTree{{Start: math.MaxUint64, Root: &engines.RevNode{ID: "",
			Value: &engines.RevValue{Ptr: math.MaxUint64, Seq: math.MaxUint64, Size: math.MaxUint64}}}}}},
	{"deep_linear_5000", engines.DocInfo{ID: "deep", UpdateSeq: 5000, RevTree: linear(5000, 1)}},
	{"wide_1000", engines.DocInfo{ID: "wide", UpdateSeq: 3, RevTree: wide(1000)}},
	{"two_deep_branches", engines.DocInfo{ID: "two", RevTree: append(linear(300, 1), linear(200, 50)...)}},
}

func TestDocInfoRoundTrip(t *testing.T) {
	for _, tc := range docInfos {
		t.Run(tc.name, func(t *testing.T) {
			enc := engines.AppendDocInfo(nil, &tc.di)
			got, err := engines.DecodeDocInfo(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.di) {
				t.Fatalf("round trip changed the doc info")
			}
			if re := engines.AppendDocInfo(nil, got); !bytes.Equal(re, enc) {
				t.Fatal("re-encoding differs")
			}
			// Appending keeps what the buffer held.
			pre := engines.AppendDocInfo([]byte("prefix"), &tc.di)
			if !bytes.HasPrefix(pre, []byte("prefix")) || !bytes.Equal(pre[6:], enc) {
				t.Fatal("AppendDocInfo does not append")
			}
		})
	}
}

func TestLocalDocRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		ld   engines.LocalDoc
	}{
		{"zero", engines.LocalDoc{}},
		{"json", engines.LocalDoc{ID: "_local/x", Rev: 3, Body: []byte(`{"a":1}`)}},
		{"binary_body", engines.LocalDoc{ID: "_local/\xff", Rev: math.MaxUint64, Body: []byte{0, 1, 0xff}}},
		{"large_body", engines.LocalDoc{ID: "_local/big", Rev: 1, Body: bytes.Repeat([]byte("x"), 1<<20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := engines.AppendLocalDoc(nil, &tc.ld)
			got, err := engines.DecodeLocalDoc(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.ld) {
				t.Fatalf("round trip: got %+v", got)
			}
			if len(enc) > 0 && len(got.Body) > 0 && &got.Body[0] == &enc[len(enc)-len(got.Body)] {
				t.Fatal("decoded body aliases the input")
			}
		})
	}
	// Deleted is not encoded: a deleted local doc is not stored.
	got, err := engines.DecodeLocalDoc(engines.AppendLocalDoc(nil, &engines.LocalDoc{ID: "_local/d", Deleted: true}))
	if err != nil || got.Deleted {
		t.Fatalf("deleted local doc decodes as %+v, %v", got, err)
	}
}

func TestPurgeInfoRoundTrip(t *testing.T) {
	var many []engines.Rev
	for i := range 500 {
		many = append(many, engines.Rev{Pos: uint64(i + 1), ID: strings.Repeat("f", i%33)})
	}
	for _, tc := range []struct {
		name string
		pi   engines.PurgeInfo
	}{
		{"zero", engines.PurgeInfo{}},
		{"no_revs", engines.PurgeInfo{Seq: 1, UUID: "u", ID: "doc"}},
		{"one_rev", engines.PurgeInfo{Seq: 2, UUID: "0123", ID: "doc", Revs: []engines.Rev{{Pos: 1, ID: "abc"}}}},
		{"many_revs", engines.PurgeInfo{Seq: math.MaxUint64, UUID: strings.Repeat("u", 300), ID: "\x00", Revs: many}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := engines.AppendPurgeInfo(nil, &tc.pi)
			got, err := engines.DecodePurgeInfo(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.pi) {
				t.Fatalf("round trip: got %+v", got)
			}
		})
	}
}

// TestDecodeRejects checks that every truncation, trailing garbage and
// foreign version fails with ErrCorrupt instead of decoding or panicking.
func TestDecodeRejects(t *testing.T) {
	decoders := []struct {
		name   string
		enc    []byte
		decode func([]byte) error
	}{
		{"doc_info", engines.AppendDocInfo(nil, &docInfos[4].di), func(b []byte) error { _, err := engines.DecodeDocInfo(b); return err }},
		{"local_doc", engines.AppendLocalDoc(nil, &engines.LocalDoc{ID: "_local/a", Rev: 300, Body: []byte("{}")}),
			func(b []byte) error { _, err := engines.DecodeLocalDoc(b); return err }},
		{"purge_info", engines.AppendPurgeInfo(nil, &engines.PurgeInfo{Seq: 300, UUID: "u", ID: "d", Revs: []engines.Rev{{Pos: 1, ID: "r"}}}),
			func(b []byte) error { _, err := engines.DecodePurgeInfo(b); return err }},
	}
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			if err := d.decode(d.enc); err != nil {
				t.Fatalf("valid encoding: %v", err)
			}
			for n := range len(d.enc) {
				if err := d.decode(d.enc[:n]); !errors.Is(err, engines.ErrCorrupt) {
					t.Fatalf("truncated to %d of %d bytes: %v, want ErrCorrupt", n, len(d.enc), err)
				}
			}
			if err := d.decode(append(bytes.Clone(d.enc), 0)); !errors.Is(err, engines.ErrCorrupt) {
				t.Fatalf("trailing byte: %v, want ErrCorrupt", err)
			}
			bad := bytes.Clone(d.enc)
			bad[0] = 99
			if err := d.decode(bad); !errors.Is(err, engines.ErrCorrupt) {
				t.Fatalf("version 99: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestDecodeDocInfoDepthBound(t *testing.T) {
	enc := engines.AppendDocInfo(nil, &engines.DocInfo{ID: "too-deep", RevTree: linear(70_000, 1)})
	if _, err := engines.DecodeDocInfo(enc); !errors.Is(err, engines.ErrCorrupt) {
		t.Fatalf("a 70,000-deep tree decodes: %v; want ErrCorrupt from the depth bound", err)
	}
}

// TestDecodeRejectsNonCanonical checks that a value written with a padded
// varint is refused: accepting it would give two encodings for one value,
// and engines compare stored doc infos by their encoding.
func TestDecodeRejectsNonCanonical(t *testing.T) {
	// version, ID "" as the two-byte varint 0x80 0x00, then the rest of a
	// zero PurgeInfo.
	b := []byte{1, 0x80, 0x00, 0, 0, 0}
	if pi, err := engines.DecodePurgeInfo(b); !errors.Is(err, engines.ErrCorrupt) {
		t.Fatalf("padded varint decodes as %+v, %v", pi, err)
	}
}

func fuzzRoundTrip[T any](t *testing.T, b []byte, decode func([]byte) (*T, error), encode func([]byte, *T) []byte) {
	v, err := decode(b)
	if err != nil {
		if !errors.Is(err, engines.ErrCorrupt) {
			t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	if re := encode(nil, v); !bytes.Equal(re, b) {
		t.Fatalf("decoded value re-encodes differently:\n in  %x\n out %x", b, re)
	}
}

func FuzzDecodeDocInfo(f *testing.F) {
	for _, tc := range docInfos[:6] {
		f.Add(engines.AppendDocInfo(nil, &tc.di))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, b, engines.DecodeDocInfo, engines.AppendDocInfo) })
}

func FuzzDecodeLocalDoc(f *testing.F) {
	f.Add(engines.AppendLocalDoc(nil, &engines.LocalDoc{ID: "_local/a", Rev: 2, Body: []byte(`{"a":1}`)}))
	f.Add(engines.AppendLocalDoc(nil, &engines.LocalDoc{}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, b, engines.DecodeLocalDoc, engines.AppendLocalDoc) })
}

func FuzzDecodePurgeInfo(f *testing.F) {
	f.Add(engines.AppendPurgeInfo(nil, &engines.PurgeInfo{Seq: 1, UUID: "u", ID: "d", Revs: []engines.Rev{{Pos: 1, ID: "r"}, {Pos: 2, ID: "s"}}}))
	f.Add(engines.AppendPurgeInfo(nil, &engines.PurgeInfo{}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, b, engines.DecodePurgeInfo, engines.AppendPurgeInfo) })
}

// hexHistory is a linear history of depth couchfs revisions: 32-hex ids,
// a body on every revision, as dbcore writes them.
func hexHistory(depth int) *engines.DocInfo {
	var root, n *engines.RevNode
	for i := range depth {
		c := &engines.RevNode{ID: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15), Value: &engines.RevValue{Ptr: uint64(i) * 1100, Seq: uint64(i) * 300, Size: 1050}}
		if n == nil {
			root = c
		} else {
			n.Children = []*engines.RevNode{c}
		}
		n = c
	}
	return &engines.DocInfo{ID: "doc-00000042", UpdateSeq: uint64(depth) * 300, ActiveSize: 1050, ExternalSize: 1050,
		RevTree: engines.RevTree{{Start: 1, Root: root}}}
}

// BenchmarkDocInfo measures the codec on a 100-revision document, what
// every save of a rewritten document decodes and encodes.
func BenchmarkDocInfo(b *testing.B) {
	di := hexHistory(100)
	enc := engines.AppendDocInfo(nil, di)
	b.Run("Decode100", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := engines.DecodeDocInfo(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Append100", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			engines.AppendDocInfo(nil, di)
		}
	})
	b.Run("Append100Reused", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		buf := make([]byte, 0, 2*len(enc))
		for b.Loop() {
			buf = engines.AppendDocInfo(buf[:0], di)
		}
	})
}
