package dbcore

import (
	"fmt"
	"testing"

	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// chainInfo is the doc info of id with a linear history of revs revisions.
func chainInfo(id string, revs int) *engines.DocInfo {
	ids := make([]string, revs)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i)
	}
	return &engines.DocInfo{ID: id, UpdateSeq: 1, RevTree: engines.RevTree{revtree.PathFromRevs(uint64(revs), ids, &engines.RevValue{})}}
}

// TestDocCacheBounds checks the cache's bounds and its accounting in the
// server-wide count.
func TestDocCacheBounds(t *testing.T) {
	tests := []struct {
		name     string
		docs     int // documents put, in order
		revs     int // revisions of each
		caches   int // caches filled one after the other on one server
		wantLast bool
	}{
		{"small docs beyond a generation", 3 * cacheGenDocs, 1, 1, true},
		{"deep docs beyond a generation", 3 * cacheGenRevs / 500, 500, 1, true},
		{"a doc deeper than a generation", 1, cacheGenRevs + 1, 1, false},
		{"many databases beyond the server budget", 2 * cacheGenRevs / 100, 100, 2 * serverCacheRevs / cacheGenRevs, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &Server{}
			var caches []*docCache
			for k := range tt.caches {
				c := newDocCache(srv)
				caches = append(caches, c)
				for i := range tt.docs {
					c.put(chainInfo(fmt.Sprintf("db%d-doc%d", k, i), tt.revs), -1, treeShape{})
				}
				held := c.curRevs + c.oldRevs
				if n := len(c.cur) + len(c.old); n > 2*cacheGenDocs || held > 2*cacheGenRevs {
					t.Fatalf("cache %d holds %d docs, %d revisions", k, n, held)
				}
				if counted := countRevsHeld(c); counted != held {
					t.Fatalf("cache %d counts %d revisions, holds %d", k, held, counted)
				}
				if total := srv.cachedRevs.Load(); total > serverCacheRevs {
					t.Fatalf("server count %d over the budget %d", total, serverCacheRevs)
				}
			}
			last := fmt.Sprintf("db%d-doc%d", tt.caches-1, tt.docs-1)
			if _, ok := caches[tt.caches-1].get(last); ok != tt.wantLast {
				t.Errorf("get(%s) ok = %v, want %v", last, ok, tt.wantLast)
			}
			var sum int64
			for _, c := range caches {
				sum += int64(c.curRevs + c.oldRevs)
			}
			if got := srv.cachedRevs.Load(); got != sum {
				t.Fatalf("server count %d, caches hold %d", got, sum)
			}
			for _, c := range caches {
				c.reset()
			}
			if got := srv.cachedRevs.Load(); got != 0 {
				t.Fatalf("server count %d after every cache was reset", got)
			}
		})
	}
}

// TestDocCacheKeepsRewrittenDocs checks that a document read or written
// in every generation survives rotations.
func TestDocCacheKeepsRewrittenDocs(t *testing.T) {
	c := newDocCache(&Server{})
	hot := chainInfo("hot", 10)
	c.put(hot, 10, treeShape{})
	for i := range 4 * cacheGenDocs {
		c.put(chainInfo(fmt.Sprint(i), 1), 1, treeShape{})
		if e, ok := c.get("hot"); !ok || e.di != hot {
			t.Fatalf("hot document evicted after %d others", i+1)
		}
	}
	if _, ok := c.get("0"); ok {
		t.Error("the first cold document survived four generations")
	}
	// Putting a new version replaces the old one without double counting.
	c.put(chainInfo("hot", 11), -1, treeShape{})
	if got := countRevsHeld(c); got != c.curRevs+c.oldRevs {
		t.Fatalf("holds %d revisions, counts %d", got, c.curRevs+c.oldRevs)
	}
	c.reset()
	if n := c.srv.cachedRevs.Load(); n != 0 {
		t.Fatalf("server count %d after reset", n)
	}
}

func countRevsHeld(c *docCache) int {
	n := 0
	for _, m := range []map[string]cacheEntry{c.cur, c.old} {
		for _, e := range m {
			n += countRevs(e.di.RevTree)
		}
	}
	return n
}
