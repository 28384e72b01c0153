package couchfile

// The file keeps a reserve of zeros, really written, beyond its append
// position. A commit that appends past the file's end makes its fdatasync
// commit ext4 metadata too (the new blocks and the size) through the
// journal; a commit that overwrites blocks already allocated and written
// leaves fdatasync only the data to flush, which on the disks measured is
// about half again as many commits a second. The reserve is zeros written
// with pwrite, not fallocate: fallocate's unwritten extents would turn
// every first write into one more metadata change. Open finds the append
// position by the newest valid header, not by the file's size, so the
// reserve costs nothing in the format: a zero block can never start a
// header (docs/on-disk-format.md, "The zero tail").

const (
	minReserve = 64 << 10
	maxReserve = 8 << 20

	// bulkCommit is the commit size from which a commit leaves the reserve
	// alone: the default FlushBytes, past which a commit's data is
	// already streamed to the disk ahead of its fdatasync, which then
	// waits on that data, not on a journal commit.
	bulkCommit = 256 << 10
)

// reserveChunk is how much a file whose append position is at end is
// extended by once its reserve runs short: an eighth of the file, so that a
// big database's extensions are rare and a small one stays small, within
// [64 KiB, 8 MiB] and a whole number of blocks.
func reserveChunk(end int64) int64 {
	return min(max(end/8, minReserve), maxReserve) / blockSize * blockSize
}

// maxTail is the most bytes past the newest header Open keeps as reserve
// for a file whose append position is end: a commit leaves at most two
// chunks of reserve, so a longer tail is a large commit that never
// completed and is cut off rather than kept as a reserve the file does not
// need.
func maxTail(end int64) int64 { return 2 * reserveChunk(end) }

var zeroChunk [1 << 20]byte

// reserve extends the zero tail by a chunk when less than a chunk is left
// past the append position, as the last step of a commit before its
// fdatasync, which makes the zeros durable with the header. A commit that
// appended bulkCommit bytes or more (a bulk load) is left alone: its
// fdatasync is spent on its data anyway, and zeros that the next large
// commits overwrite at once would only double their writes. A failed
// extension is not the commit's failure: the header does not depend on the
// zeros, which the next commit writes again. Writer only.
func (s *store) reserve(appended int64) {
	s.phys = max(s.phys, s.end)
	chunk := reserveChunk(s.end)
	if !s.live || s.phys-s.end >= chunk || appended >= min(chunk, bulkCommit) {
		return
	}
	from := s.phys
	to := (from+blockSize-1)/blockSize*blockSize + chunk
	for at := from; at < to; {
		n := min(to-at, int64(len(zeroChunk)))
		if err := writeAll(s.f, zeroChunk[:n], at, s.name); err != nil {
			return
		}
		at += n
		s.phys = at
	}
}
