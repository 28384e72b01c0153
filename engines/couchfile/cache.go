package couchfile

import "sync"

// nodeCache keeps decoded B+tree nodes by pointer. Nodes are immutable and
// a pointer names one node for the life of a file, so entries never go
// stale (a rollback clears the cache because it reuses offsets). When full
// it drops arbitrary entries: Go's randomized map order makes that a cheap
// random eviction, and the upper levels, read on every lookup, come back at
// once. Safe for concurrent use.
//
// A node's cost is its encoded size, but a node a writer built shares
// strings with the nodes it replaced, which it keeps alive: the memory held
// can exceed the bound, by about a third in practice (a live heap of 21.7
// MB, not ~17, with the default 8 MB after 50,000 documents, in
// fs.TestMemoryBoundedByCaches run at default sizes). Caching a detached
// copy of each written node saved about 1 MB of that but doubled the bytes
// a rewrite of a long history allocates, so the writer caches its nodes
// as they are.
type nodeCache struct {
	mu    sync.Mutex
	m     map[uint64]cached
	bytes int
	limit int
}

type cached struct {
	n    *node
	cost int
}

func newNodeCache(limit int) *nodeCache {
	return &nodeCache{m: map[uint64]cached{}, limit: limit}
}

func (c *nodeCache) get(ptr uint64) *node {
	c.mu.Lock()
	e := c.m[ptr]
	c.mu.Unlock()
	return e.n
}

// put adds n with cost bytes (its encoded size plus bookkeeping).
func (c *nodeCache) put(ptr uint64, n *node, cost int) {
	cost += 64 + 32*len(n.keys)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[ptr]; ok {
		c.bytes -= old.cost
	}
	c.m[ptr] = cached{n, cost}
	c.bytes += cost
	if c.bytes <= c.limit {
		return
	}
	for k, e := range c.m {
		if c.bytes <= c.limit*3/4 {
			break
		}
		delete(c.m, k)
		c.bytes -= e.cost
	}
}

// drop forgets the node at ptr: a writer that replaced it calls this, so
// that the nodes of old states, read again only by a reader of an older
// snapshot, do not crowd out the live ones.
func (c *nodeCache) drop(ptr uint64) {
	c.mu.Lock()
	if e, ok := c.m[ptr]; ok {
		delete(c.m, ptr)
		c.bytes -= e.cost
	}
	c.mu.Unlock()
}

func (c *nodeCache) clear() {
	c.mu.Lock()
	c.m = map[uint64]cached{}
	c.bytes = 0
	c.mu.Unlock()
}
