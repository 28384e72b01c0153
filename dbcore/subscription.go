package dbcore

import "sort"

// Subscription tells its owner which databases changed. The filesystem uses
// it to invalidate the kernel's caches after writes it did not make itself.
type Subscription struct {
	s       *Server
	c       chan struct{}
	changed map[string]struct{} // guarded by s.subMu
	closed  bool
}

// Subscribe returns a subscription to every committed change of every
// database (document writes, purges, security and revs-limit changes,
// compaction swaps, deletion). Close it when done.
func (s *Server) Subscribe() *Subscription {
	sub := &Subscription{s: s, c: make(chan struct{}, 1), changed: make(map[string]struct{})}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.subs == nil {
		sub.closed = true
		close(sub.c)
		return sub
	}
	s.subs[sub] = struct{}{}
	return sub
}

// C receives a value, coalesced, after changes; then call Take. It is
// closed when the subscription or the server is closed.
func (sub *Subscription) C() <-chan struct{} { return sub.c }

// Take returns the names of the databases changed since the last Take,
// sorted, each once.
func (sub *Subscription) Take() []string {
	sub.s.subMu.Lock()
	defer sub.s.subMu.Unlock()
	if len(sub.changed) == 0 {
		return nil
	}
	names := make([]string, 0, len(sub.changed))
	for n := range sub.changed {
		names = append(names, n)
	}
	clear(sub.changed)
	sort.Strings(names)
	return names
}

// Close ends the subscription and closes C.
func (sub *Subscription) Close() {
	sub.s.subMu.Lock()
	defer sub.s.subMu.Unlock()
	if sub.s.subs != nil {
		delete(sub.s.subs, sub)
	}
	sub.closeLocked()
}

func (sub *Subscription) closeLocked() {
	if !sub.closed {
		sub.closed = true
		close(sub.c)
	}
}

// notify records that db changed and wakes every subscriber.
func (s *Server) notify(db string) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for sub := range s.subs {
		sub.changed[db] = struct{}{}
		select {
		case sub.c <- struct{}{}:
		default:
		}
	}
}
