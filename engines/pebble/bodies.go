package pebble

import "sync"

// maxKeptArena bounds the memory pendingBodies keeps between batches, and
// the buffer of the batch kept for reuse (db.newBatch).
const maxKeptArena = 8 << 20

// maxKeptUndo bounds the entries of the undo log's array kept between
// commits.
const maxKeptUndo = 1 << 16

// pendingBodies holds the bodies written since the last applied batch, back
// to back in one buffer that is reused from batch to batch. The updater adds
// and drains; readers look bodies up by pointer under mu, because a body is
// readable from the moment WriteDocBody returns.
type pendingBodies struct {
	mu   sync.Mutex
	base uint64 // pointer of the first body
	data []byte
	ends []int // end offset of each body in data
}

// add appends body, whose pointer is base+len. Updater only.
func (p *pendingBodies) add(body []byte) {
	p.mu.Lock()
	p.data = append(p.data, body...)
	p.ends = append(p.ends, len(p.data))
	p.mu.Unlock()
}

// get returns a copy of the body at ptr if it is pending. Any goroutine.
func (p *pendingBodies) get(ptr uint64) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ptr < p.base || ptr-p.base >= uint64(len(p.ends)) {
		return nil, false
	}
	i := int(ptr - p.base)
	start := 0
	if i > 0 {
		start = p.ends[i-1]
	}
	return append([]byte(nil), p.data[start:p.ends[i]]...), true
}

// count and bytes size a batch. Updater only.
func (p *pendingBodies) count() int { return len(p.ends) }
func (p *pendingBodies) bytes() int { return len(p.data) }

// each calls fn for every pending body; body is valid until reset. Updater
// only.
func (p *pendingBodies) each(fn func(ptr uint64, body []byte)) {
	start := 0
	for i, end := range p.ends {
		fn(p.base+uint64(i), p.data[start:end])
		start = end
	}
}

// reset forgets the pending bodies once a batch holding them is applied;
// the next body gets pointer base. Updater only.
func (p *pendingBodies) reset(base uint64) {
	p.mu.Lock()
	if cap(p.data) > maxKeptArena {
		p.data = nil
	}
	p.data, p.ends, p.base = p.data[:0], p.ends[:0], base
	p.mu.Unlock()
}
