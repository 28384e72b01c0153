package revpack

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// packByteWise is the packing stated byte by byte, the definition
// packRevIDs must match exactly: what is on disk was written by either.
func packByteWise(dst, src []byte) []byte {
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != 32 && c != Esc {
			continue
		}
		dst = append(dst, src[start:i]...)
		switch {
		case c == 32 && i+33 <= len(src) && isLowerHexByteWise(src[i+1:i+33]):
			dst = append(dst, Esc, 1)
			dst, _ = hex.AppendDecode(dst, src[i+1:i+33])
			i += 32
		case c == Esc:
			dst = append(dst, Esc, 0)
		default:
			dst = append(dst, c)
		}
		start = i + 1
	}
	return append(dst, src[start:]...)
}

func isLowerHexByteWise(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hexHistory encodes the doc info of a linear history of depth couchfs
// revisions.
func hexHistory(depth int) []byte {
	var root, n *engines.RevNode
	for i := range depth {
		c := &engines.RevNode{ID: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15), Value: &engines.RevValue{Ptr: uint64(i) * 1100, Seq: uint64(i) * 32, Size: 1050}}
		if n == nil {
			root = c
		} else {
			n.Children = []*engines.RevNode{c}
		}
		n = c
	}
	return engines.AppendDocInfo(nil, &engines.DocInfo{ID: "doc", UpdateSeq: 32, RevTree: engines.RevTree{{Start: 1, Root: root}}})
}

// TestRevIDPackingMatchesByteWise compares the packing with its byte-wise
// definition on doc infos and on inputs crowded with the special bytes.
func TestRevIDPackingMatchesByteWise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{32, Esc, 0, 1, 'a', 'f', 'g', '0', '9', 'A'}
	inputs := [][]byte{hexHistory(1), hexHistory(100)}
	for range 2000 {
		b := make([]byte, r.IntN(120))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if len(b) > 40 && r.IntN(2) == 0 {
			at := r.IntN(len(b) - 33)
			b[at] = 32
			copy(b[at+1:], fmt.Sprintf("%032x", r.Uint64()))
		}
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		got, want := Pack([]byte("pre"), in), packByteWise([]byte("pre"), in)
		if !bytes.Equal(got, want) {
			t.Fatalf("packing %x:\n got  %x\n want %x", in, got, want)
		}
		back, err := Unpack(nil, got[3:])
		if err != nil || !bytes.Equal(back, in) {
			t.Fatalf("unpacking %x gave %x, %v", got, back, err)
		}
	}
}

// BenchmarkRevIDPacking measures the packing of a 100-revision doc info,
// done at every save of such a document.
func BenchmarkRevIDPacking(b *testing.B) {
	in := hexHistory(100)
	packed := Pack(nil, in)
	b.Run("Pack", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		buf := make([]byte, 0, len(in))
		for b.Loop() {
			buf = Pack(buf[:0], in)
		}
	})
	b.Run("Unpack", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := Unpack(nil, packed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRevIDPacking(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name   string
		in     string
		shrink bool
	}{
		{"empty", "", false},
		{"one rev id", "\x20" + rev, true},
		{"rev ids in a doc info", "\x01\x03doc\x05\x00\x20" + rev + "\x01\x05\x20" + rev + "\x00", true},
		{"upper-case hex is left alone", "\x20" + strings.ToUpper(rev), false},
		{"too short", "\x20" + rev[:31], false},
		{"escape bytes", "\xff\x00\xff\x01\xff", false},
		{"escape before a rev", "\xff\x20" + rev + "\xff", true},
	}
	for _, tt := range tests {
		p := Pack(nil, []byte(tt.in))
		if shrank := len(p) < len(tt.in); shrank != tt.shrink {
			t.Errorf("%s: packed %d → %d bytes", tt.name, len(tt.in), len(p))
		}
		back, err := Unpack(nil, p)
		if err != nil || string(back) != tt.in {
			t.Errorf("%s: unpack gave %q, %v", tt.name, back, err)
		}
	}
	for _, bad := range []string{"\xff", "\xff\x02", "\xff\x01short"} {
		if _, err := Unpack(nil, []byte(bad)); !errors.Is(err, engines.ErrCorrupt) {
			t.Errorf("unpack %q: %v", bad, err)
		}
	}
}

// FuzzPacking: Unpack undoes Pack on any input, and on any other input
// either fails with ErrCorrupt or returns without panicking.
func FuzzPacking(f *testing.F) {
	f.Add(hexHistory(3))
	f.Add([]byte{Esc, 1, 32})
	f.Add([]byte("\x20" + "0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, in []byte) {
		back, err := Unpack(nil, Pack(nil, in))
		if err != nil || !bytes.Equal(back, in) {
			t.Fatalf("round trip of %x gave %x, %v", in, back, err)
		}
		if _, err := Unpack(nil, in); err != nil && !errors.Is(err, engines.ErrCorrupt) {
			t.Fatalf("Unpack(%x): %v does not wrap ErrCorrupt", in, err)
		}
	})
}
