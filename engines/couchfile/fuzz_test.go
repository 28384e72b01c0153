package couchfile

import (
	"bytes"
	"testing"
)

// The decoders below read whatever a damaged file holds. They must never
// panic, and what they accept must be what an encoder could have written.
// The seed corpus is in testdata/fuzz/<FuzzName>; plain `go test` runs it.

func FuzzChunk(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 0x5f, 0x3c, 0x1c, 0xe2, 0x10, '{', '}'}, uint16(100))
	f.Fuzz(func(t *testing.T, raw []byte, pos uint16) {
		in := bytes.Clone(raw)
		kind, data, span, err := decodeChunkAt(in, int64(pos))
		if err != nil {
			return
		}
		if span > int64(len(raw)) || span < chunkHeaderLen {
			t.Fatalf("span %d of %d bytes", span, len(raw))
		}
		// Re-encoding the decoded data must decode to the same data.
		p := encodePayload(nil, kind, data, true, true)
		var h [chunkHeaderLen]byte
		putChunkHeader(&h, p)
		re := appendBlocks(nil, int64(pos), h[:])
		re = appendBlocks(re, int64(pos)+int64(len(re)), p)
		k2, d2, _, err := decodeChunkAt(re, int64(pos))
		if err != nil || k2 != kind || !bytes.Equal(d2, data) {
			t.Fatalf("re-encoded chunk: kind %d/%d, err %v", k2, kind, err)
		}
	})
}

func FuzzHeader(f *testing.F) {
	f.Add(appendHeader(nil, blockSize, encodeHeader(&header{revsLimit: 1000, uuid: "u"})), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, block uint8) {
		pos := int64(block) * blockSize
		h, span, err := headerAt(bytes.Clone(raw), pos)
		if err != nil {
			return
		}
		if span > int64(len(raw)) {
			t.Fatalf("span %d of %d bytes", span, len(raw))
		}
		got, err := decodeHeader(encodeHeader(h), pos)
		if err != nil || *got != *h {
			t.Fatalf("header does not survive re-encoding: %+v, %v", got, err)
		}
	})
}

func FuzzNode(f *testing.F) {
	f.Add(encodeNode(nil, &node{leaf: true, keys: []string{"a", "b"}, vals: []string{"1", "2"}}))
	f.Add(encodeNode(nil, &node{keys: []string{"m"}, kids: []ref{{ptr: 10, red: reduction{count: 2}, size: 50}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := decodeNode(data, 1<<40)
		if err != nil {
			return
		}
		again, err := decodeNode(encodeNode(nil, n), 1<<40)
		if err != nil || again.leaf != n.leaf || len(again.keys) != len(n.keys) {
			t.Fatalf("node does not survive re-encoding: %v", err)
		}
		for i := range n.keys {
			if again.keys[i] != n.keys[i] || (n.leaf && again.vals[i] != n.vals[i]) || (!n.leaf && again.kids[i] != n.kids[i]) {
				t.Fatalf("entry %d differs after re-encoding", i)
			}
		}
	})
}
