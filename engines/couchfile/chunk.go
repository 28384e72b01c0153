package couchfile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/couchfs/couchfs/engines"
	"github.com/golang/snappy"
)

// A chunk is one appended record: a document body, a B+tree node, a piece
// of an attachment, the security object. Its logical bytes are
//
//	length uint32 BE | crc uint32 BE | payload (length bytes)
//
// where crc is CRC32C (Castagnoli) of the payload, and the payload is one
// tag byte followed by the data. The tag's high nibble is the chunk's kind
// (body, node, attachment data, security object), so a pointer to the wrong
// sort of chunk is caught; its low nibble the encoding, a set of flags:
// encSnappy (github.com/golang/snappy block format) and, for nodes,
// encPacked (revision IDs packed to binary, revpack.go), each used when the
// writer found it smaller (nodes are not always offered to snappy: see
// snappyGate); encRaw is neither. Every chunk is checksummed,
// unlike couch_file's btree nodes, so a flipped bit anywhere is reported
// instead of decoded.

const (
	chunkHeaderLen = 8
	maxChunkLen    = 1 << 30

	encRaw    = 0
	encSnappy = 1
	encPacked = 2

	kindBody     = 1
	kindNode     = 2
	kindAtt      = 3
	kindSecurity = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// encodePayload appends the payload for data of the given kind to dst: the
// tag byte and the data, with revision IDs packed if pack is set and
// compressed with snappy if compress is set, each only if it saves space.
// dst's spare capacity is reused, so a writer that keeps its scratch buffer
// allocates nothing but the packing.
func encodePayload(dst []byte, kind byte, data []byte, compress, pack bool) []byte {
	var packBuf []byte
	p, _ := encodePayloadBuf(dst, &packBuf, kind, data, compress, pack)
	return p
}

// encodePayloadBuf is encodePayload packing into *packBuf, which a writer
// keeps from one payload to the next. It also returns the size the data
// had before compression (after packing), for a snappyGate to judge what
// compression saved.
func encodePayloadBuf(dst []byte, packBuf *[]byte, kind byte, data []byte, compress, pack bool) ([]byte, int) {
	enc := byte(encRaw)
	if pack {
		*packBuf = packRevIDs((*packBuf)[:0], data)
		if p := *packBuf; len(p) < len(data) {
			data, enc = p, encPacked
		}
	}
	if compress && len(data) > 32 {
		start := len(dst)
		dst = slices.Grow(dst, 1+snappy.MaxEncodedLen(len(data)))
		dst = append(dst, kind<<4|enc|encSnappy)
		c := snappy.Encode(dst[len(dst):cap(dst)], data)
		if len(c) < len(data) {
			return dst[:len(dst)+len(c)], len(data)
		}
		dst = dst[:start]
	}
	dst = append(dst, kind<<4|enc)
	return append(dst, data...), len(data)
}

// snappyGate decides whether the next node of one sort (packed leaves,
// or the others) is worth offering to snappy. Revision IDs are random
// bytes once packed: a leaf of doc infos with long histories shrinks by
// ~9% under snappy, for ~1.2 us of the updater's time per ~1.1 KB leaf,
// while interior and by-seq nodes shrink by half. So a node that snappy
// shrinks by less than an eighth sends the next snappySkip nodes of its
// sort to the file uncompressed without trying, and the one after them is
// tried again: a tree whose nodes compress well loses nothing, one whose
// nodes do not pays for one attempt in snappySkip+1. Writer only.
type snappyGate struct{ skip int }

const snappySkip = 15

// try reports whether to compress the next node, counting a skip.
func (g *snappyGate) try() bool {
	if g.skip > 0 {
		g.skip--
		return false
	}
	return true
}

// tried records an attempt: plain bytes stored in stored bytes.
func (g *snappyGate) tried(plain, stored int) {
	if stored > plain-plain/8 {
		g.skip = snappySkip
	}
}

// decodePayload returns the kind and data of a payload. Raw data aliases p.
func decodePayload(p []byte) (byte, []byte, error) {
	if len(p) == 0 {
		return 0, nil, fmt.Errorf("empty chunk payload: %w", engines.ErrCorrupt)
	}
	kind, enc, data := p[0]>>4, p[0]&0x0f, p[1:]
	if enc&^(encSnappy|encPacked) != 0 {
		return 0, nil, fmt.Errorf("chunk payload encoding %d: %w", enc, engines.ErrCorrupt)
	}
	if enc&encSnappy != 0 {
		n, err := snappy.DecodedLen(data)
		// A snappy copy element expands at most 64 bytes from 2; anything
		// claiming more is corrupt, and refusing it bounds the allocation.
		if err != nil || n > maxChunkLen || n > 32*len(data)+64 {
			return 0, nil, fmt.Errorf("snappy payload: bad length: %w", engines.ErrCorrupt)
		}
		if data, err = snappy.Decode(make([]byte, n), data); err != nil {
			return 0, nil, fmt.Errorf("snappy payload: %v: %w", err, engines.ErrCorrupt)
		}
	}
	if enc&encPacked != 0 {
		var err error
		if data, err = unpackRevIDs(data); err != nil {
			return 0, nil, err
		}
	}
	return kind, data, nil
}

// putChunkHeader fills the logical chunk header for payload.
func putChunkHeader(h *[chunkHeaderLen]byte, payload []byte) {
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(h[4:8], crc32c(payload))
}

// parseChunk checks the logical bytes of one chunk and returns its payload,
// aliasing b. b must hold exactly the chunk.
func parseChunk(b []byte) ([]byte, error) {
	if len(b) < chunkHeaderLen {
		return nil, fmt.Errorf("chunk of %d bytes: %w", len(b), engines.ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if int64(n) != int64(len(b)-chunkHeaderLen) {
		return nil, fmt.Errorf("chunk length %d, have %d: %w", n, len(b)-chunkHeaderLen, engines.ErrCorrupt)
	}
	p := b[chunkHeaderLen:]
	if crc32c(p) != binary.BigEndian.Uint32(b[4:8]) {
		return nil, fmt.Errorf("chunk checksum mismatch: %w", engines.ErrCorrupt)
	}
	return p, nil
}

// chunkLen reads the payload length from a logical chunk header.
func chunkLen(h []byte) (int64, error) {
	n := int64(binary.BigEndian.Uint32(h[0:4]))
	if n > maxChunkLen {
		return 0, fmt.Errorf("chunk length %d: %w", n, engines.ErrCorrupt)
	}
	return n, nil
}

// payloadAt checks the chunk whose raw bytes start at raw[0], which is at
// file offset pos, and returns its payload and raw span; raw may run past
// the chunk. raw is modified (its block prefixes are squeezed out) and the
// payload aliases it.
func payloadAt(raw []byte, pos int64) ([]byte, int64, error) {
	span, err := chunkSpan(raw, pos)
	if err != nil {
		return nil, 0, err
	}
	if int64(len(raw)) < span {
		return nil, 0, fmt.Errorf("chunk at %d: %d of %d bytes: %w", pos, len(raw), span, engines.ErrCorrupt)
	}
	logical, ok := stripBlocks(raw[:span], pos)
	if !ok {
		return nil, 0, fmt.Errorf("chunk at %d: header block inside data: %w", pos, engines.ErrCorrupt)
	}
	p, err := parseChunk(logical)
	if err != nil {
		return nil, 0, fmt.Errorf("chunk at %d: %w", pos, err)
	}
	return p, span, nil
}

// decodeChunkAt is payloadAt followed by decodePayload: the whole read path
// of a chunk minus the I/O, and the fuzz target for it. raw is modified.
func decodeChunkAt(raw []byte, pos int64) (byte, []byte, int64, error) {
	p, span, err := payloadAt(raw, pos)
	if err != nil {
		return 0, nil, 0, err
	}
	kind, data, err := decodePayload(p)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("chunk at %d: %w", pos, err)
	}
	return kind, data, span, nil
}

func crcUpdate(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

// chunkSpan returns the raw span of the chunk at pos from the first raw
// bytes of it, which must cover its header.
func chunkSpan(raw []byte, pos int64) (int64, error) {
	hdrSpan := rawSpan(pos, chunkHeaderLen)
	if int64(len(raw)) < hdrSpan {
		return 0, fmt.Errorf("chunk at %d: truncated header: %w", pos, engines.ErrCorrupt)
	}
	var h [chunkHeaderLen + 1]byte
	hb, ok := stripBlocks(append(h[:0], raw[:hdrSpan]...), pos)
	if !ok {
		return 0, fmt.Errorf("chunk at %d: header block inside data: %w", pos, engines.ErrCorrupt)
	}
	n, err := chunkLen(hb)
	if err != nil {
		return 0, fmt.Errorf("chunk at %d: %w", pos, err)
	}
	return rawSpan(pos, chunkHeaderLen+n), nil
}
