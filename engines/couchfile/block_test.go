package couchfile

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

func TestBlockFraming(t *testing.T) {
	tests := []struct {
		name string
		pos  int64
		n    int
	}{
		{"empty", 100, 0},
		{"within a block", 100, 50},
		{"at a boundary", 4096, 10},
		{"up to the boundary", 4000, 96},
		{"across one boundary", 4000, 97},
		{"across many", 4095, 3 * blockSize},
		{"exact blocks from a boundary", 8192, 4095 * 2},
		{"from offset 1", 1, blockSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := bytes.Repeat([]byte{0xab}, tt.n)
			raw := appendBlocks(nil, tt.pos, data)
			if got := rawSpan(tt.pos, int64(tt.n)); got != int64(len(raw)) {
				t.Fatalf("rawSpan = %d, appendBlocks wrote %d", got, len(raw))
			}
			for i := range raw {
				if (tt.pos+int64(i))%blockSize == 0 && raw[i] != blockData {
					t.Fatalf("no prefix at raw offset %d", tt.pos+int64(i))
				}
			}
			back, ok := stripBlocks(bytes.Clone(raw), tt.pos)
			if !ok || !bytes.Equal(back, data) {
				t.Fatalf("stripBlocks did not invert appendBlocks")
			}
		})
	}
}

func TestBlockFramingRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		pos, n := r.Int64N(1<<20), r.IntN(3*blockSize)
		if got, want := rawSpan(pos, int64(n)), int64(len(appendBlocks(nil, pos, make([]byte, n)))); got != want {
			t.Fatalf("rawSpan(%d, %d) = %d, want %d", pos, n, got, want)
		}
	}
}

func TestStripBlocksRejectsHeaderPrefix(t *testing.T) {
	raw := appendBlocks(nil, 4090, make([]byte, 20))
	raw[6] = blockHeader // the prefix of the block at 4096
	if _, ok := stripBlocks(raw, 4090); ok {
		t.Fatal("a header prefix inside data was accepted")
	}
}

func TestChunkRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		compress bool
		wantEnc  byte
	}{
		{"small raw", []byte(`{}`), true, encRaw},
		{"compressible", bytes.Repeat([]byte(`{"a":1}`), 100), true, encSnappy},
		{"compression off", bytes.Repeat([]byte(`{"a":1}`), 100), false, encRaw},
		{"incompressible", randomBytes(2000), true, encRaw},
		{"spans blocks", bytes.Repeat([]byte("xyz"), 5000), true, encSnappy},
	}
	for _, tt := range tests {
		for _, pos := range []int64{1, 4090, 4096, 12345} {
			p := encodePayload(nil, kindBody, tt.data, tt.compress, false)
			if p[0]&0x0f != tt.wantEnc || p[0]>>4 != kindBody {
				t.Fatalf("%s: tag %#x", tt.name, p[0])
			}
			var h [chunkHeaderLen]byte
			putChunkHeader(&h, p)
			raw := appendBlocks(nil, pos, h[:])
			raw = appendBlocks(raw, pos+int64(len(raw)), p)
			kind, got, span, err := decodeChunkAt(append(raw, 1, 2, 3), pos)
			if err != nil || kind != kindBody || !bytes.Equal(got, tt.data) || span != int64(len(raw)) {
				t.Fatalf("%s at %d: kind %d, span %d of %d, err %v", tt.name, pos, kind, span, len(raw), err)
			}
		}
	}
}

func TestChunkCorruption(t *testing.T) {
	p := encodePayload(nil, kindNode, []byte("some node bytes here"), false, false)
	var h [chunkHeaderLen]byte
	putChunkHeader(&h, p)
	good := append(h[:], p...)
	for i := range good {
		for bit := range 8 {
			raw := bytes.Clone(good)
			raw[i] ^= 1 << bit
			if _, _, _, err := decodeChunkAt(raw, 100); !errors.Is(err, engines.ErrCorrupt) {
				t.Fatalf("flip of bit %d in byte %d: err %v", bit, i, err)
			}
		}
	}
	for n := range len(good) {
		if _, _, _, err := decodeChunkAt(bytes.Clone(good[:n]), 100); !errors.Is(err, engines.ErrCorrupt) {
			t.Fatalf("chunk cut to %d bytes: err %v", n, err)
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := &header{dataStart: 4096, regionCRC: 0xdeadbeef, updateSeq: 7, purgeSeq: 2, revsLimit: 1000,
		purgeInfosLimit: 1000, compactedSeq: 5, nextAttID: 3, uuid: "0123456789abcdef0123456789abcdef", securityPtr: 5000}
	for i := range h.roots {
		h.roots[i] = ref{ptr: uint64(100 * (i + 1)), red: reduction{count: 3, del: 1, active: 99, external: 120}, size: 4000}
	}
	for _, pos := range []int64{8192, 40960} {
		raw := appendHeader(nil, pos, encodeHeader(h))
		got, span, err := headerAt(append(raw, 0, 0), pos)
		if err != nil || *got != *h || span != int64(len(raw)) {
			t.Fatalf("at %d: got %+v span %d err %v", pos, got, span, err)
		}
	}
	raw := appendHeader(nil, 8192, encodeHeader(h))
	if _, _, err := headerAt(raw, 4096); !errors.Is(err, engines.ErrCorrupt) {
		t.Fatalf("header taken at a lower offset than its pointers allow: %v", err)
	}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
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
		p := packRevIDs(nil, []byte(tt.in))
		if shrank := len(p) < len(tt.in); shrank != tt.shrink {
			t.Errorf("%s: packed %d → %d bytes", tt.name, len(tt.in), len(p))
		}
		back, err := unpackRevIDs(p)
		if err != nil || string(back) != tt.in {
			t.Errorf("%s: unpack gave %q, %v", tt.name, back, err)
		}
	}
	for _, bad := range []string{"\xff", "\xff\x02", "\xff\x01short"} {
		if _, err := unpackRevIDs([]byte(bad)); !errors.Is(err, engines.ErrCorrupt) {
			t.Errorf("unpack %q: %v", bad, err)
		}
	}
}

// gateWrite is a node TestSnappyGate writes and whether it should be
// stored snappy-compressed.
type gateWrite struct {
	name       string
	val        string
	pack       bool
	compressed bool
}

// TestSnappyGate writes nodes through the store and reads each back from
// the file: a node snappy cannot shrink by an eighth makes the next
// snappySkip nodes of its sort go uncompressed, even compressible ones,
// the node after them is offered to snappy again, and the other sort of
// node (packed or not) is not affected. A compaction's copy, not live,
// offers every node to snappy.
func TestSnappyGate(t *testing.T) {
	noisy := string(randomBytes(1500))
	marginal := string(randomBytes(1250)) + strings.Repeat("m", 250) // ~11% smaller under snappy
	plain := strings.Repeat(`{"a":1}`, 200)
	writes := []gateWrite{
		{"compressible, first", plain, false, true},
		{"incompressible", noisy, false, false},
		{"packed sort still tried", plain, true, true},
	}
	for i := range snappySkip {
		writes = append(writes, gateWrite{"compressible, skipped " + strconv.Itoa(i+1), plain, false, false})
	}
	writes = append(writes, []gateWrite{
		{"tried again", plain, false, true},
		{"stays on", plain, false, true},
		{"marginal", marginal, false, true},
		{"after marginal, skipped", plain, false, false},
	}...)
	live := testTree(t, treeSeq).s
	live.live = true
	checkGate(t, live, writes)

	var copied []gateWrite
	for _, w := range writes {
		copied = append(copied, gateWrite{w.name + ", not live", w.val, w.pack, w.val != noisy})
	}
	checkGate(t, testTree(t, treeSeq).s, copied)
}

func checkGate(t *testing.T, st *store, writes []gateWrite) {
	t.Helper()
	for _, w := range writes {
		ptr, _, err := st.writeNode(&node{leaf: true, keys: []string{"k"}, vals: []string{w.val}}, w.pack)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		p, _, err := st.readPayload(ptr, 4096)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if got := p[0]&encSnappy != 0; got != w.compressed {
			t.Errorf("%s: compressed %v, want %v", w.name, got, w.compressed)
		}
		data, err := st.readChunk(ptr, kindNode, 4096)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if back, err := decodeNode(data, ptr); err != nil || len(back.vals) != 1 || back.vals[0] != w.val {
			t.Fatalf("%s: read back %v, %v", w.name, back, err)
		}
	}
}
