package fs

import (
	"container/list"
	"sync"
)

// nodeBudget bounds the document nodes this mount keeps for the kernel.
// The kernel keeps every name it has looked up, and with it this mount's
// node for the document (about 800 bytes with go-fuse's inode), until it
// runs short of memory — on a machine with memory to spare, never: a grep
// -r over a million documents would keep a million nodes. Past max, the
// names of the documents looked up least recently are dropped from the
// kernel's cache (by the invalidator, which never does so on behalf of a
// request) in batches of an eighth of max; the kernel then forgets their
// nodes, except those a file is open on, which it forgets once closed.
// Safe for concurrent use.
type nodeBudget struct {
	mu  sync.Mutex
	lru list.List // *fileNode, least recently looked up first
	max int
}

// defaultMaxDocNodes is Options.MaxDocNodes' default.
const defaultMaxDocNodes = 32 << 10

func newNodeBudget(max int) *nodeBudget {
	if max <= 0 {
		max = defaultMaxDocNodes
	}
	b := &nodeBudget{max: max}
	b.lru.Init()
	return b
}

// touch records that the kernel looked up document node n, and returns the
// nodes whose names are to be dropped from the kernel's cache.
func (b *nodeBudget) touch(n *fileNode) []*fileNode {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n.budgetElem != nil {
		b.lru.MoveToBack(n.budgetElem)
		return nil
	}
	n.budgetElem = b.lru.PushBack(n)
	if b.lru.Len() <= b.max {
		return nil
	}
	var drop []*fileNode
	for b.lru.Len() > b.max-b.max/8 {
		e := b.lru.Front()
		v := e.Value.(*fileNode)
		b.lru.Remove(e)
		v.budgetElem = nil
		drop = append(drop, v)
	}
	return drop
}

// forget records that the kernel forgot node n.
func (b *nodeBudget) forget(n *fileNode) {
	b.mu.Lock()
	if n.budgetElem != nil {
		b.lru.Remove(n.budgetElem)
		n.budgetElem = nil
	}
	b.mu.Unlock()
}
