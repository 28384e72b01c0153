package couchfile

import (
	"fmt"
	"io"

	"github.com/couchfs/couchfs/engines"
)

// attChunk is the size of the data chunks an attachment is cut into; each
// is checksummed and compressed on its own, so a reader verifies as it
// streams.
const attChunk = 64 << 10

// WriteAttachment appends the data read from r as back-to-back chunks and
// returns the attachment's ID, which the attachment tree maps to where the
// chunks are. The ID, not the offset, is the pointer: compaction moves the
// chunks but keeps the ID. Durable with the next Commit. Updater only.
func (db *DB) WriteAttachment(r io.Reader) (uint64, uint64, error) {
	if err := db.writable(); err != nil {
		return 0, 0, err
	}
	var loc attLoc
	buf := make([]byte, attChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			ptr, size, err := db.st.appendData(kindAtt, buf[:n], true)
			if err != nil {
				return 0, 0, db.fail(err)
			}
			if loc.chunks == 0 {
				loc.offset = ptr
			}
			loc.chunks++
			loc.length += uint64(n)
			loc.stored += size
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			// The chunks appended so far are garbage nothing points to.
			return 0, 0, db.errorf("read attachment: %w", rerr)
		}
	}
	s := db.next()
	id := s.h.nextAttID + 1
	s.h.nextAttID = id
	var err error
	s.h.roots[treeAtt], err = s.tree(treeAtt).modify(s.h.roots[treeAtt],
		[]action{{key: seqKey(id), val: string(appendAttLoc(nil, loc))}})
	if err != nil {
		return 0, 0, db.fail(err)
	}
	db.publish(s)
	return id, loc.length, nil
}

// OpenAttachment returns a reader of the attachment with ID ptr. The
// reader holds the file open until it is closed, so it keeps working
// across a compaction swap; close it. An ID from writes a failed commit
// discarded fails with ErrRolledBack, here or, if the rollback came
// after the open, as the reader reads. Any goroutine.
func (db *DB) OpenAttachment(ptr uint64) (io.ReadCloser, error) {
	return readAgain(db, func() (io.ReadCloser, error) { return db.openAttachment(ptr) })
}

func (db *DB) openAttachment(ptr uint64) (io.ReadCloser, error) {
	r0 := db.rollbacks.Load()
	s, err := db.acquire()
	if err != nil {
		return nil, err
	}
	v, ok, err := s.tree(treeAtt).get(s.h.roots[treeAtt], seqKey(ptr))
	if err == nil && !ok {
		// IDs count up, and a handle that rolled back writes no more: an
		// ID past the committed state's last came from the discarded one.
		if db.rollbacks.Load() != 0 && ptr > s.h.nextAttID {
			err = fmt.Errorf("attachment %d, past the last %d a failed commit left: %w", ptr, s.h.nextAttID, engines.ErrRolledBack)
		} else {
			err = corruptf("no attachment %d", ptr)
		}
	}
	var loc attLoc
	if err == nil {
		loc, err = decodeAttLoc(v)
	}
	if err != nil {
		s.st.release()
		return nil, db.errorf("%w", err)
	}
	return &attReader{db: db, r0: r0, st: s.st, loc: loc, pos: int64(loc.offset)}, nil
}

// attReader streams an attachment's chunks, checking each one's checksum
// and, at the end, the chunk count and length.
type attReader struct {
	db     *DB    // nil for Check's readers
	r0     uint64 // the rollback count before the open's snapshot was loaded
	st     *store
	loc    attLoc
	pos    int64  // offset of the next chunk
	read   uint64 // chunks read
	n      uint64 // bytes returned
	cur    []byte // unread data of the current chunk
	closed bool
}

// Read returns the attachment's bytes in order; a damaged chunk or a
// length that does not add up is an error wrapping ErrCorrupt.
func (a *attReader) Read(p []byte) (int, error) {
	if a.closed {
		return 0, fmt.Errorf("couchfile: attachment reader: %w", engines.ErrClosed)
	}
	for len(a.cur) == 0 {
		if a.read == a.loc.chunks {
			if a.n != a.loc.length {
				return 0, fmt.Errorf("couchfile: %s: attachment of %d bytes ended at %d: %w", a.st.name, a.loc.length, a.n, engines.ErrCorrupt)
			}
			return 0, io.EOF
		}
		if err := a.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	a.n += uint64(n)
	return n, nil
}

func (a *attReader) next() error {
	p, _, err := a.st.readPayload(uint64(a.pos), attChunk+64)
	if err != nil {
		err = fmt.Errorf("couchfile: attachment: %w", err)
		if a.db != nil { // nil for Check's readers
			// The attachment may be one the open found in writes a
			// failed commit has discarded since.
			err = a.db.rolledBack(a.r0, err)
		}
		return err
	}
	kind, data, err := decodePayload(p)
	if err == nil && kind != kindAtt {
		err = corruptf("chunk at %d is not attachment data", a.pos)
	}
	if err != nil {
		return fmt.Errorf("couchfile: %s: attachment: %w", a.st.name, err)
	}
	a.pos += rawSpan(a.pos, chunkHeaderLen+int64(len(p)))
	a.read++
	a.cur = data
	return nil
}

// Close releases the file reference the reader holds.
func (a *attReader) Close() error {
	if a.closed {
		return fmt.Errorf("couchfile: attachment reader closed twice: %w", engines.ErrClosed)
	}
	a.closed = true
	return a.st.release()
}
