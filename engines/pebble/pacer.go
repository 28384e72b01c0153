package pebble

import (
	"sync"
	"time"
)

// retryPacer slows down Pebble's retries of a failing background job.
// Pebble retries a failed flush or compaction at once and for ever
// (compaction.go: "TODO(peter): count consecutive flush errors and
// backoff"): on a full or failing disk that is thousands of attempts a
// second, a core pinned for as long as the disk stays so. Pebble reports
// each failure to EventListener.BackgroundError on the failed job's
// goroutine before it schedules the retry, so pausing there paces the
// retries: the pause doubles with each failure that follows another
// within pacerReset, from pacerBase up to pacerMax.
//
// The pause holds Pebble's DB mutex, so writes (which fail meanwhile
// anyway) and Close wait up to pacerMax; reads do not take it. One pacer
// per open database. Safe for concurrent use.
type retryPacer struct {
	mu       sync.Mutex
	failures int
	last     time.Time
}

const (
	pacerBase  = time.Millisecond
	pacerMax   = 200 * time.Millisecond
	pacerReset = 5 * time.Second
)

// pause is the EventListener.BackgroundError hook.
func (p *retryPacer) pause(error) {
	p.mu.Lock()
	now := time.Now()
	if now.Sub(p.last) > pacerReset {
		p.failures = 0
	}
	p.failures++
	p.last = now
	d := min(pacerBase<<min(p.failures-1, 16), pacerMax)
	p.mu.Unlock()
	time.Sleep(d)
}
