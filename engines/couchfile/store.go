package couchfile

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/couchfs/couchfs/engines"
)

// store is one open database file: an append-only writer owned by one
// goroutine (the updater, or a compaction's copier) and a reader safe for
// every goroutine.
//
// Appended bytes collect in buf. When buf passes FlushBytes it becomes the
// flight: a background goroutine writes it to the file (and starts its
// writeback) while the writer fills a new buf, so the page-cache copy and
// the disk overlap with the updater's work, as Pebble's WAL flusher does.
// A commit waits for the flight, writes the rest with the header and
// fdatasyncs. Readers find bytes below flushed in the file and the rest in
// the flight or buf, so what the writer appended is readable at once:
// WriteDocInfos is visible to reads before Commit, as the contract says.
type store struct {
	f     File
	name  string
	gen   uint64 // the file's generation mod 256, in the low bits of its body pointers
	cache *nodeCache
	flush int // Options.FlushBytes

	// maxSealed is the largest region a header seals by checksum alone
	// (Options.maxSealedBytes); see commit.
	maxSealed int64

	// refs counts the holders that may still read f: one for being the
	// current store of a DB plus one per reader in flight. The file is
	// closed when it drops to zero, which lets a reader that started
	// before a compaction swap finish on the old file.
	refs atomic.Int64

	size    atomic.Int64 // raw end of the file including buffered bytes
	flushed atomic.Int64 // raw end of the bytes known written to f

	// mu guards the buffers against readers; only the writer changes them.
	mu struct {
		sync.RWMutex
		flight      []byte // raw bytes [flightStart, bufStart) being written
		flightStart int64
		buf         []byte // raw bytes [bufStart, size) not yet handed off
		bufStart    int64
	}

	// Writer-only.
	flightErr   chan error    // result of the flight's write; nil when none
	spare       []byte        // the last flight's buffer, for reuse
	scratch     []byte        // payload encoding buffer
	packBuf     []byte        // revision-ID packing buffer
	nodeBuf     []byte        // node encoding buffer
	snappy      [2]snappyGate // for unpacked and packed nodes
	end         int64         // == size
	regionStart int64         // end of the last durable header: where its region starts
	crc         uint32        // CRC32C of the raw bytes [regionStart, bufStart)
	wbDone      int64         // pages below this were handed to Writeback
	phys        int64         // the file's size: end plus the zero tail (reserve.go)
	// live is set on the store the updater writes, not on a compaction's
	// copy until it is swapped in: only a live store keeps a zero tail
	// (reserve.go) and lets a snappyGate skip compressing nodes, because a
	// copy's point is its size and no writer waits for it.
	live bool
}

func newStore(f File, name string, end int64, gen uint64, o *Options) *store {
	s := &store{f: f, name: name, gen: gen & genMask, cache: newNodeCache(o.CacheBytes), flush: o.FlushBytes,
		maxSealed: int64(o.maxSealedBytes)}
	s.refs.Store(1)
	s.size.Store(end)
	s.flushed.Store(end)
	s.mu.bufStart = end
	s.end = end
	s.regionStart = end
	s.wbDone = end / 4096 * 4096
	s.phys = end
	return s
}

// tryAcquire takes a reader reference unless the store is already closed.
func (s *store) tryAcquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference and closes the file with the last one.
func (s *store) release() error {
	if s.refs.Add(-1) == 0 {
		return s.f.Close()
	}
	return nil
}

// readRaw returns n raw bytes at pos from the file or the append buffer.
// Any goroutine.
//
// A read is bounded by this store's own end (size), never by the file's:
// the end only moves back at a rollback, which stores it before it drops
// the buffers or cuts the file, and a store that rolled back appends
// nothing more. So a pointer into writes a rollback discarded fails here
// for good, and is never taken for bytes that a later handle on the same
// file appends at the same offsets. (The check precedes the read; a later
// handle appends only after a reopen, which dbcore starts once the failed
// handle's reads have drained, and every chunk is checksummed besides.)
func (s *store) readRaw(pos, n int64) ([]byte, error) {
	if pos < 0 || n < 0 || pos+n > s.size.Load() {
		return nil, fmt.Errorf("%s: read [%d, %d) past the end %d: %w", s.name, pos, pos+n, s.size.Load(), engines.ErrCorrupt)
	}
	b := make([]byte, n)
	if pos+n <= s.flushed.Load() {
		if _, err := readFull(s.f, b, pos); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		return b, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// The bytes are in up to three places, in file order: the file below
	// flightStart (or bufStart without a flight), the flight, and buf.
	fileEnd := s.mu.bufStart
	if s.mu.flight != nil {
		fileEnd = s.mu.flightStart
	}
	done := int64(0)
	if pos < fileEnd {
		done = min(fileEnd-pos, n)
		if _, err := readFull(s.f, b[:done], pos); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	for _, part := range []struct {
		b     []byte
		start int64
	}{{s.mu.flight, s.mu.flightStart}, {s.mu.buf, s.mu.bufStart}} {
		at := pos + done
		if done == n || part.b == nil || at >= part.start+int64(len(part.b)) {
			continue
		}
		done += int64(copy(b[done:], part.b[at-part.start:]))
	}
	if done < n {
		return nil, fmt.Errorf("%s: read [%d, %d) past the end: %w", s.name, pos, pos+n, engines.ErrCorrupt)
	}
	return b, nil
}

// readPayload returns the checked payload of the chunk at ptr and its
// logical size. guess is how many logical bytes to read at first; a longer
// chunk costs a second read. Any goroutine.
func (s *store) readPayload(ptr uint64, guess int64) ([]byte, uint64, error) {
	pos := int64(ptr)
	size := s.size.Load()
	if ptr == 0 || pos >= size || ptr > 1<<62 {
		return nil, 0, fmt.Errorf("%s: chunk pointer %d beyond the end %d: %w", s.name, ptr, size, engines.ErrCorrupt)
	}
	raw, err := s.readRaw(pos, min(rawSpan(pos, chunkHeaderLen+guess), size-pos))
	if now := s.size.Load(); err != nil && now < size && pos < now {
		// A rollback cut the end back while the read ran. A committed
		// chunk lies whole below the new end; only the guessed part of the
		// read ran past it, so read again within the new end.
		size = now
		raw, err = s.readRaw(pos, min(rawSpan(pos, chunkHeaderLen+guess), size-pos))
	}
	if err != nil {
		return nil, 0, err
	}
	span, err := chunkSpan(raw, pos)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", s.name, err)
	}
	if span > int64(len(raw)) {
		if raw, err = s.readRaw(pos, span); err != nil {
			return nil, 0, err
		}
	}
	p, _, err := payloadAt(raw, pos)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", s.name, err)
	}
	return p, uint64(chunkHeaderLen + len(p)), nil
}

// readChunk returns the decoded data of the chunk of the given kind at
// ptr. Any goroutine.
func (s *store) readChunk(ptr uint64, kind byte, guess int64) ([]byte, error) {
	p, _, err := s.readPayload(ptr, guess)
	if err != nil {
		return nil, err
	}
	k, data, err := decodePayload(p)
	if err != nil {
		return nil, fmt.Errorf("%s: chunk at %d: %w", s.name, ptr, err)
	}
	if k != kind {
		return nil, fmt.Errorf("%s: chunk at %d is of kind %d, want %d: %w", s.name, ptr, k, kind, engines.ErrCorrupt)
	}
	return data, nil
}

// appendPayload appends a chunk with an already encoded payload and returns
// its pointer and logical size. Writer only.
func (s *store) appendPayload(payload []byte) (uint64, uint64, error) {
	if len(payload) > maxChunkLen {
		return 0, 0, fmt.Errorf("%s: chunk of %d bytes is too large: %w", s.name, len(payload), engines.ErrInvalidWrite)
	}
	var h [chunkHeaderLen]byte
	putChunkHeader(&h, payload)
	pos := s.end
	s.mu.Lock()
	s.mu.buf = appendBlocks(s.mu.buf, pos, h[:])
	s.mu.buf = appendBlocks(s.mu.buf, pos+rawSpan(pos, chunkHeaderLen), payload)
	s.end = s.mu.bufStart + int64(len(s.mu.buf))
	s.size.Store(s.end)
	full := len(s.mu.buf) >= s.flush
	s.mu.Unlock()
	if full {
		if err := s.flushBuf(); err != nil {
			return 0, 0, err
		}
	}
	return uint64(pos), uint64(chunkHeaderLen + len(payload)), nil
}

// appendData appends data as a chunk of the given kind, compressed if that saves space.
// Writer only.
func (s *store) appendData(kind byte, data []byte, compress bool) (uint64, uint64, error) {
	s.scratch, _ = encodePayloadBuf(s.scratch[:0], &s.packBuf, kind, data, compress, false)
	return s.appendPayload(s.scratch)
}

// flushBuf hands buf to a background write ahead of the commit, folding
// it into the region checksum, once the previous flight has landed. The
// flight also asks the kernel to start writing its whole pages back, so
// that the disk works while the updater goes on appending and the commit's
// fdatasync has little left to do; the last partial page is left out,
// since appending to a page under writeback would wait for it. Writer
// only.
func (s *store) flushBuf() error {
	if err := s.land(); err != nil {
		return err
	}
	s.crc = crcUpdate(s.crc, s.mu.buf) // the writer is the only mutator of buf
	s.mu.Lock()
	flight, at := s.mu.buf, s.mu.bufStart
	s.mu.flight, s.mu.flightStart = flight, at
	s.mu.buf, s.mu.bufStart = s.spare[:0], at+int64(len(flight))
	s.mu.Unlock()
	s.spare = nil
	wbFrom, wbTo := s.wbDone, s.mu.bufStart/4096*4096
	s.wbDone = max(wbTo, wbFrom)
	done := make(chan error, 1)
	s.flightErr = done
	go func() {
		err := writeAll(s.f, flight, at, s.name)
		if wb, ok := s.f.(writebacker); ok && err == nil && wbTo > wbFrom {
			// Errors surface at the commit's Sync; this is only a hint.
			_ = wb.Writeback(wbFrom, wbTo-wbFrom)
		}
		done <- err
	}()
	return nil
}

// land waits for the flight, if any, and moves the flushed mark past it.
// Writer only.
func (s *store) land() error {
	if s.flightErr == nil {
		return nil
	}
	err := <-s.flightErr
	s.flightErr = nil
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.spare = s.mu.flight
	s.flushed.Store(s.mu.flightStart + int64(len(s.mu.flight)))
	s.mu.flight = nil
	s.mu.Unlock()
	return nil
}

func writeAll(f File, b []byte, at int64, name string) error {
	n, err := f.WriteAt(b, at)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("%s: write %d bytes at %d: %w", name, len(b), at, err)
	}
	return nil
}

// writebacker is implemented by files that can start writeback early.
type writebacker interface {
	Writeback(off, n int64) error
}

// writeBuf lands the flight and writes buf to the file. Readers keep
// finding the bytes in buf while the write runs, and in the file after it.
// Writer only.
func (s *store) writeBuf() error {
	if err := s.land(); err != nil {
		return err
	}
	buf, at := s.mu.buf, s.mu.bufStart
	if len(buf) == 0 {
		return nil
	}
	if err := writeAll(s.f, buf, at, s.name); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.bufStart += int64(len(buf))
	s.mu.buf = s.mu.buf[:0]
	s.flushed.Store(s.mu.bufStart)
	s.mu.Unlock()
	return nil
}

var zeroBlock [blockSize]byte

// commit pads to the next block, appends the header sealing everything
// since the last one, writes it all, tops up the zero tail (reserve.go)
// and fdatasyncs once. A region larger than maxSealed is instead made
// durable by an fdatasync of its own before the header, which then seals
// an empty region: two fdatasyncs, but Open, which re-reads the newest
// header's region to check it, never reads more than maxSealed, however
// large the commit (a compaction's copy is one).
// On success the header is durable and a new region starts after it.
// Writer only.
func (s *store) commit(h *header) error {
	s.mu.Lock()
	if pad := (blockSize - s.end%blockSize) % blockSize; pad > 0 {
		s.mu.buf = append(s.mu.buf, zeroBlock[:pad]...)
		s.end += pad
	}
	s.mu.Unlock()
	h.dataStart = s.regionStart
	h.regionCRC = crcUpdate(s.crc, s.mu.buf) // the writer is the only mutator of buf
	if s.end-s.regionStart > s.maxSealed {
		if err := s.writeBuf(); err != nil {
			return err
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("%s: sync: %w", s.name, err)
		}
		h.dataStart, h.regionCRC = s.end, 0 // the CRC32C of no bytes
	}
	s.mu.Lock()
	s.mu.buf = appendHeader(s.mu.buf, s.end, encodeHeader(h))
	s.end = s.mu.bufStart + int64(len(s.mu.buf))
	s.size.Store(s.end)
	s.mu.Unlock()
	if err := s.writeBuf(); err != nil {
		return err
	}
	s.reserve(s.end - s.regionStart)
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", s.name, err)
	}
	s.regionStart = s.end
	s.wbDone = s.end / 4096 * 4096
	s.crc = 0
	return nil
}

// rollback forgets everything appended since the last durable header and
// cuts the file back to it, zero tail included, so that bytes a failed
// fsync may have left only in the page cache can never be taken for
// committed data by a later open: a header there whose data was synced
// first seals an empty region and would pass for a valid one.
// Writer only.
func (s *store) rollback() error {
	_ = s.land() // the failure being handled is the one to report
	s.mu.Lock()
	s.mu.flight = nil
	s.mu.buf = nil
	s.mu.bufStart = s.regionStart
	s.end = s.regionStart
	s.phys = s.regionStart
	s.size.Store(s.end)
	s.flushed.Store(s.end)
	s.crc = 0
	s.wbDone = s.end / 4096 * 4096
	s.mu.Unlock()
	s.cache.clear()
	if err := s.f.Truncate(s.regionStart); err != nil {
		return fmt.Errorf("%s: truncate to %d: %w", s.name, s.regionStart, err)
	}
	return nil
}

// A body pointer is the body chunk's offset shifted left by genBits, with
// the file's generation (mod 256) in the low bits. A compaction moves every
// body and bumps the generation, so a pointer read from a doc info before
// the swap is recognised after it instead of being taken for an offset in
// the new file, where it could name another document's body. The low bits
// cost one byte of varint per pointer; high bits would cost five.
const (
	genBits    = 8
	genMask    = 1<<genBits - 1
	offsetMask = 1<<(64-genBits) - 1
)

// bodyPtr tags a body's offset with the file's generation.
func (s *store) bodyPtr(off uint64) uint64 { return off<<genBits | s.gen }

// ptrGen is the generation a body pointer was made in.
func ptrGen(ptr uint64) uint64 { return ptr & genMask }

// bodyOffset returns the offset of a body pointer of this file.
func (s *store) bodyOffset(ptr uint64) (uint64, error) {
	if ptrGen(ptr) != s.gen {
		return 0, corruptf("%s: body pointer %#x is of file generation %d, not %d", s.name, ptr, ptrGen(ptr), s.gen)
	}
	return ptr >> genBits, nil
}

// readNode returns the node at ptr, from the cache or the file. Any
// goroutine.
func (s *store) readNode(ptr uint64) (*node, error) {
	if n := s.cache.get(ptr); n != nil {
		return n, nil
	}
	data, err := s.readChunk(ptr, kindNode, blockSize)
	if err != nil {
		return nil, err
	}
	n, err := decodeNode(data, ptr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	s.cache.put(ptr, n, len(data))
	return n, nil
}

// writeNode appends n and returns its pointer and chunk size; pack asks
// for revision-ID packing (for the trees that hold revisions). A live store
// offers the node to snappy when the snappyGate of its sort says so; a
// compaction's copy always does. Writer only.
func (s *store) writeNode(n *node, pack bool) (uint64, uint64, error) {
	s.nodeBuf = encodeNode(s.nodeBuf[:0], n)
	data := s.nodeBuf
	gate := &s.snappy[0]
	if pack {
		gate = &s.snappy[1]
	}
	compress := !s.live || gate.try()
	var plain int
	s.scratch, plain = encodePayloadBuf(s.scratch[:0], &s.packBuf, kindNode, data, compress, pack)
	if compress {
		gate.tried(plain, len(s.scratch)-1)
	}
	ptr, size, err := s.appendPayload(s.scratch)
	if err != nil {
		return 0, 0, err
	}
	s.cache.put(ptr, n, len(data))
	return ptr, size, nil
}
