package memengine

import (
	"bytes"
	"fmt"
	"io"

	"github.com/couchfs/couchfs/engines"
)

// WriteAttachment stores everything r yields under a new pointer, durable
// with the next Commit. Updater only.
func (db *DB) WriteAttachment(r io.Reader) (uint64, uint64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, 0, fmt.Errorf("memengine: %s: read attachment: %w", db.path, err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return 0, 0, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	ptr := db.working.nextPtr
	db.working.putAttachment(ptr, data)
	db.pending = append(db.pending, func(s *state) { s.putAttachment(ptr, data) })
	return ptr, uint64(len(data)), nil
}

// OpenAttachment returns a reader of the attachment at ptr; a pointer to
// nothing is an error wrapping ErrCorrupt. Any goroutine.
func (db *DB) OpenAttachment(ptr uint64) (io.ReadCloser, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	data, ok := db.working.atts[ptr]
	if !ok {
		return nil, fmt.Errorf("memengine: %s: no attachment at %d: %w", db.path, ptr, engines.ErrCorrupt)
	}
	// Stored data is never modified, so the reader may share it.
	return io.NopCloser(bytes.NewReader(data)), nil
}
