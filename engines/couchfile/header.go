package couchfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/couchfs/couchfs/engines"
)

// The header is the commit record. It starts at a block boundary with the
// blockHeader prefix, followed by a chunk (length, CRC32C, payload) laid out
// like appended data. The payload is
//
//	"CFSH" | version 1 | dataStart uvarint | regionCRC uint32 BE |
//	updateSeq | purgeSeq | revsLimit | purgeInfosLimit | compactedSeq |
//	nextAttID | generation | uuid (uvarint length + bytes) | securityPtr |
//	numTrees × (ptr | count | del | active | external | size)
//
// with every number a uvarint unless noted. regionCRC is the CRC32C of the
// raw file bytes [dataStart, header offset): everything appended since the
// previous header, padding included. A header is accepted on open only if
// both its own checksum and the region checksum hold, which is what lets a
// commit cost one fdatasync (see docs/on-disk-format.md).

const (
	headerMagic   = "CFSH"
	headerVersion = 1
	maxHeaderLen  = 64 << 10
)

// The trees of a database, in header order.
const (
	treeID        = iota // doc ID → doc info
	treeSeq              // update seq → doc ID
	treeLocal            // local doc ID → local doc
	treePurgeSeq         // purge seq → purge info
	treePurgeUUID        // purge UUID + purge seq → nothing
	treeAtt              // attachment ID → location
	numTrees
)

var treeNames = [numTrees]string{"id", "seq", "local", "purge-seq", "purge-uuid", "attachment"}

// header is the decoded commit record: everything a snapshot needs besides
// the trees' nodes.
type header struct {
	dataStart       int64
	regionCRC       uint32
	updateSeq       uint64
	purgeSeq        uint64
	revsLimit       uint64
	purgeInfosLimit uint64
	compactedSeq    uint64
	nextAttID       uint64
	generation      uint64 // compactions this file descends from; tags body pointers
	uuid            string
	securityPtr     uint64
	roots           [numTrees]ref
}

func encodeHeader(h *header) []byte {
	b := append([]byte(headerMagic), headerVersion)
	b = binary.AppendUvarint(b, uint64(h.dataStart))
	b = binary.BigEndian.AppendUint32(b, h.regionCRC)
	for _, v := range []uint64{h.updateSeq, h.purgeSeq, h.revsLimit, h.purgeInfosLimit, h.compactedSeq, h.nextAttID, h.generation} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(h.uuid)))
	b = append(b, h.uuid...)
	b = binary.AppendUvarint(b, h.securityPtr)
	for _, r := range h.roots {
		b = appendRef(b, r)
	}
	return b
}

// decodeHeader decodes a header payload. pos is the header's offset: no
// pointer in a valid header reaches it.
func decodeHeader(p []byte, pos int64) (*header, error) {
	if len(p) < len(headerMagic)+1 || string(p[:len(headerMagic)]) != headerMagic {
		return nil, fmt.Errorf("header at %d: bad magic: %w", pos, engines.ErrCorrupt)
	}
	if p[len(headerMagic)] != headerVersion {
		return nil, fmt.Errorf("header at %d: version %d: %w", pos, p[len(headerMagic)], engines.ErrCorrupt)
	}
	r := reader{b: p[len(headerMagic)+1:]}
	h := &header{}
	h.dataStart = int64(r.uvarint())
	h.regionCRC = r.uint32()
	for _, v := range []*uint64{&h.updateSeq, &h.purgeSeq, &h.revsLimit, &h.purgeInfosLimit, &h.compactedSeq, &h.nextAttID, &h.generation} {
		*v = r.uvarint()
	}
	h.uuid = string(r.bytes())
	h.securityPtr = r.uvarint()
	for i := range h.roots {
		h.roots[i] = r.ref()
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, fmt.Errorf("header at %d: malformed: %w", pos, engines.ErrCorrupt)
	}
	if h.dataStart < 0 || h.dataStart > pos || (h.securityPtr != 0 && h.securityPtr >= uint64(pos)) {
		return nil, fmt.Errorf("header at %d: pointer out of range: %w", pos, engines.ErrCorrupt)
	}
	for _, rt := range h.roots {
		if rt.ptr >= uint64(pos) && rt.ptr != 0 {
			return nil, fmt.Errorf("header at %d: root %d out of range: %w", pos, rt.ptr, engines.ErrCorrupt)
		}
	}
	return h, nil
}

// appendHeader appends the raw bytes of a header at pos, which must be a
// block boundary.
func appendHeader(dst []byte, pos int64, payload []byte) []byte {
	var h [chunkHeaderLen]byte
	putChunkHeader(&h, payload)
	dst = append(dst, blockHeader)
	dst = appendBlocks(dst, pos+1, h[:])
	return appendBlocks(dst, pos+1+rawSpan(pos+1, chunkHeaderLen), payload)
}

// headerAt decodes the header whose raw bytes start at raw[0], at file
// offset pos (a block boundary); raw may run past it. It returns the header
// and its raw span. raw is modified. It checks the header's own checksum,
// not the region's.
func headerAt(raw []byte, pos int64) (*header, int64, error) {
	if len(raw) == 0 || raw[0] != blockHeader || pos%blockSize != 0 {
		return nil, 0, fmt.Errorf("no header at %d: %w", pos, engines.ErrCorrupt)
	}
	p, span, err := payloadAt(raw[1:], pos+1)
	if err != nil {
		return nil, 0, err
	}
	h, err := decodeHeader(p, pos)
	if err != nil {
		return nil, 0, err
	}
	return h, 1 + span, nil
}

// findHeader scans f backwards from size for the newest header whose own
// checksum and region checksum both hold, the way couch_file's find_header
// does. It returns the header, its offset and the offset just past it,
// the append position. It looks at one byte per block, so the zero tail
// past the newest header costs only its reading. A file without one is
// corrupt: it is never taken for an empty database.
func findHeader(f File, size int64) (*header, int64, int64, error) {
	const batch = 256 // blocks read per step backwards
	buf := make([]byte, batch*blockSize)
	top := (size + blockSize - 1) / blockSize // blocks, the last maybe partial
	for hi := top; hi > 0; {
		lo := max(hi-batch, 0)
		start, end := lo*blockSize, min(hi*blockSize, size)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == end-start) {
			return nil, 0, 0, fmt.Errorf("scan for header: %w", err)
		}
		for b := hi - 1; b >= lo; b-- {
			if buf[(b-lo)*blockSize] != blockHeader {
				continue
			}
			h, hend, err := tryHeader(f, b*blockSize, size)
			if err == nil {
				return h, b * blockSize, hend, nil
			}
			if !errors.Is(err, engines.ErrCorrupt) {
				return nil, 0, 0, err
			}
		}
		hi = lo
	}
	return nil, 0, 0, fmt.Errorf("no valid header in %d bytes: %w", size, engines.ErrCorrupt)
}

// tryHeader reads and fully verifies the header at pos.
func tryHeader(f File, pos, size int64) (*header, int64, error) {
	raw := make([]byte, min(size-pos, maxHeaderLen+maxHeaderLen/blockSize+16))
	if _, err := readFull(f, raw, pos); err != nil {
		return nil, 0, err
	}
	h, span, err := headerAt(raw, pos)
	if err != nil {
		return nil, 0, err
	}
	crc, err := crcRange(f, h.dataStart, pos)
	if err != nil {
		return nil, 0, err
	}
	if crc != h.regionCRC {
		return nil, 0, fmt.Errorf("header at %d: region [%d, %d) checksum mismatch: %w", pos, h.dataStart, pos, engines.ErrCorrupt)
	}
	return h, pos + span, nil
}

// crcRange is the CRC32C of the file bytes [from, to).
func crcRange(f File, from, to int64) (uint32, error) {
	buf := make([]byte, min(to-from, 1<<20))
	var crc uint32
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		if _, err := readFull(f, buf[:n], off); err != nil {
			return 0, err
		}
		crc = crcUpdate(crc, buf[:n])
		off += n
	}
	return crc, nil
}

// readFull reads len(b) bytes at off; running into the end of the file is
// corruption (a pointer past the end), other errors are I/O errors.
func readFull(f File, b []byte, off int64) (int, error) {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read %d bytes at %d: past the end of the file: %w", len(b), off, engines.ErrCorrupt)
	}
	return n, fmt.Errorf("read at %d: %w", off, err)
}
