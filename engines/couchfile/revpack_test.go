package couchfile

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// packRevIDsByteWise is the packing stated byte by byte, the definition
// packRevIDs must match exactly: what is on disk was written by either.
func packRevIDsByteWise(dst, src []byte) []byte {
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != 32 && c != packEsc {
			continue
		}
		dst = append(dst, src[start:i]...)
		switch {
		case c == 32 && i+33 <= len(src) && isLowerHexByteWise(src[i+1:i+33]):
			dst = append(dst, packEsc, 1)
			dst, _ = hex.AppendDecode(dst, src[i+1:i+33])
			i += 32
		case c == packEsc:
			dst = append(dst, packEsc, 0)
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
	alphabet := []byte{32, packEsc, 0, 1, 'a', 'f', 'g', '0', '9', 'A'}
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
		got, want := packRevIDs([]byte("pre"), in), packRevIDsByteWise([]byte("pre"), in)
		if !bytes.Equal(got, want) {
			t.Fatalf("packing %x:\n got  %x\n want %x", in, got, want)
		}
		back, err := unpackRevIDs(got[3:])
		if err != nil || !bytes.Equal(back, in) {
			t.Fatalf("unpacking %x gave %x, %v", got, back, err)
		}
	}
}

// BenchmarkRevIDPacking measures the packing of a 100-revision doc info,
// done at every save of such a document.
func BenchmarkRevIDPacking(b *testing.B) {
	in := hexHistory(100)
	packed := packRevIDs(nil, in)
	b.Run("Pack", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		buf := make([]byte, 0, len(in))
		for b.Loop() {
			buf = packRevIDs(buf[:0], in)
		}
	})
	b.Run("Unpack", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := unpackRevIDs(packed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
