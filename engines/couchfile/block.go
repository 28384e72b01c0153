package couchfile

// The file is a sequence of 4 KiB blocks, as in CouchDB's couch_file. The
// first byte of every block is a prefix: blockData for a block that
// continues appended data, blockHeader for a block that starts a header.
// Appended bytes that cross a block boundary get a blockData byte inserted
// there, so a header can only ever start where a block says so, and no
// document body, however crafted, can pass for one. Positions are raw file
// offsets; a "logical" length counts the bytes without the prefixes.

const (
	blockSize   = 4096
	blockData   = 0x00
	blockHeader = 0x01
)

// appendBlocks appends data to dst as it is laid out in the file when it
// starts at raw offset pos, inserting a blockData prefix at every block
// boundary it reaches.
func appendBlocks(dst []byte, pos int64, data []byte) []byte {
	for len(data) > 0 {
		off := int(pos % blockSize)
		if off == 0 {
			dst = append(dst, blockData)
			pos++
			off = 1
		}
		n := min(len(data), blockSize-off)
		dst = append(dst, data[:n]...)
		data = data[n:]
		pos += int64(n)
	}
	return dst
}

// rawSpan is how many file bytes n logical bytes occupy from raw offset pos.
func rawSpan(pos, n int64) int64 {
	if n <= 0 {
		return 0
	}
	total := int64(0)
	off := pos % blockSize
	if off == 0 {
		total++
		off = 1
	}
	first := min(n, blockSize-off)
	total += first
	n -= first
	if n > 0 {
		blocks := (n + blockSize - 2) / (blockSize - 1)
		total += n + blocks
	}
	return total
}

// stripBlocks returns the logical bytes of raw, which was read from raw
// offset pos, reusing raw's storage. It reports false if a prefix inside the
// span is not blockData: a header block cannot be part of appended data.
func stripBlocks(raw []byte, pos int64) ([]byte, bool) {
	out := raw[:0]
	for len(raw) > 0 {
		off := int(pos % blockSize)
		if off == 0 {
			if raw[0] != blockData {
				return nil, false
			}
			raw = raw[1:]
			pos++
			off = 1
		}
		n := min(len(raw), blockSize-off)
		out = append(out, raw[:n]...)
		raw = raw[n:]
		pos += int64(n)
	}
	return out, true
}
