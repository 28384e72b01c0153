package dbcore

import "github.com/couchfs/couchfs/engines"

// The doc-info cache's bounds. A revision held costs about 130 bytes (node,
// value, child pointer, id), so one database's cache stays under ~9 MB and
// all of a server's under ~35 MB, whatever the number of documents.
const (
	cacheGenDocs    = 1024     // documents per generation
	cacheGenRevs    = 32 << 10 // revisions per generation
	serverCacheRevs = 1 << 18  // revisions in the caches of all open databases
)

// docCache keeps the doc infos the updater last read or committed, so that
// rewriting a document neither reads nor decodes its revision tree again:
// for documents of ~100 revisions that was a fifth of the updater's time.
//
// The updater is the only writer of its database, so an entry equals what
// the engine stores as long as the updater puts every doc info it commits
// and drops everything whenever the stored state may differ from what it
// last wrote: after a failed write or commit, when the engine handle
// changes (a reopen), when a compaction is swapped in (bodies move), and
// around any request that writes on its own (purge, setters). Entries are
// frozen like every revision tree (see package revtree): the trees are
// shared with replies and readers and are never modified.
//
// It evicts by generation: entries go to cur; when cur is full it becomes
// old and a new cur starts; a hit in old moves the entry to cur. Documents
// rewritten often stay, and the cache holds at most two generations. The
// server-wide count in srv bounds the caches of all open databases: a
// database that would exceed it first gives up its old generation, then
// caches nothing more until the total falls again (databases closing or
// dropping their caches). A miss only costs a read from the engine.
//
// Updater only.
type docCache struct {
	srv     *Server
	edb     engines.DB // the handle whose stored state the entries are
	cur     map[string]cacheEntry
	old     map[string]cacheEntry
	curRevs int
	oldRevs int
}

type cacheEntry struct {
	di    *engines.DocInfo
	shape treeShape // of di.RevTree, as far as known
	revs  int
}

func newDocCache(srv *Server) *docCache {
	return &docCache{srv: srv}
}

// bind makes edb the handle the cache describes, dropping every entry if
// it described another one.
func (c *docCache) bind(edb engines.DB) {
	if c.edb != edb {
		c.reset()
		c.edb = edb
	}
}

// reset drops every entry and unbinds the cache.
func (c *docCache) reset() {
	c.srv.cachedRevs.Add(-int64(c.curRevs + c.oldRevs))
	c.cur, c.old = nil, nil
	c.curRevs, c.oldRevs = 0, 0
	c.edb = nil
}

// get returns the cache entry of id; ok is false on a miss.
func (c *docCache) get(id string) (cacheEntry, bool) {
	if e, ok := c.cur[id]; ok {
		return e, true
	}
	e, ok := c.old[id]
	if !ok {
		return cacheEntry{}, false
	}
	delete(c.old, id)
	c.oldRevs -= e.revs
	c.srv.cachedRevs.Add(-int64(e.revs))
	c.insert(id, e)
	return e, true
}

// put records di as what the engine stores for its document, with what is
// known of its tree's shape; revs is the number of revisions of the tree,
// or -1 to count them.
func (c *docCache) put(di *engines.DocInfo, revs int, shape treeShape) {
	if revs < 0 {
		revs = countRevs(di.RevTree)
	}
	c.remove(di.ID)
	c.insert(di.ID, cacheEntry{di: di, shape: shape, revs: revs})
}

// remove forgets id.
func (c *docCache) remove(id string) {
	if e, ok := c.cur[id]; ok {
		delete(c.cur, id)
		c.curRevs -= e.revs
		c.srv.cachedRevs.Add(-int64(e.revs))
	}
	if e, ok := c.old[id]; ok {
		delete(c.old, id)
		c.oldRevs -= e.revs
		c.srv.cachedRevs.Add(-int64(e.revs))
	}
}

func (c *docCache) insert(id string, e cacheEntry) {
	if e.revs > cacheGenRevs {
		return
	}
	if len(c.cur) >= cacheGenDocs || c.curRevs+e.revs > cacheGenRevs {
		c.rotate()
	}
	if c.srv.cachedRevs.Load()+int64(e.revs) > serverCacheRevs {
		c.dropOld()
		if c.srv.cachedRevs.Load()+int64(e.revs) > serverCacheRevs {
			return
		}
	}
	if c.cur == nil {
		c.cur = make(map[string]cacheEntry)
	}
	c.cur[id] = e
	c.curRevs += e.revs
	c.srv.cachedRevs.Add(int64(e.revs))
}

// rotate makes cur the old generation, dropping the previous one.
func (c *docCache) rotate() {
	// The dropped generation's table is emptied and reused: allocating one
	// of this size at every rotation was a measurable part of a bulk load.
	spare := c.old
	c.dropOld()
	c.old, c.oldRevs = c.cur, c.curRevs
	if spare != nil {
		clear(spare)
		c.cur = spare
	} else {
		c.cur = make(map[string]cacheEntry, len(c.old))
	}
	c.curRevs = 0
}

func (c *docCache) dropOld() {
	c.srv.cachedRevs.Add(-int64(c.oldRevs))
	c.old, c.oldRevs = nil, 0
}

// countRevs counts the revisions of a tree, following linear runs without
// the stack.
func countRevs(t engines.RevTree) int {
	n := 0
	var small [16]*engines.RevNode
	for _, b := range t {
		stack := append(small[:0], b.Root)
		for len(stack) > 0 {
			nd := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n++
			for len(nd.Children) == 1 {
				nd = nd.Children[0]
				n++
			}
			stack = append(stack, nd.Children...)
		}
	}
	return n
}
