package fs

import (
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/memengine"
)

// TestSoleWriterFollowsNoFeed: a mount that is its server's sole writer
// does not subscribe to the databases' changes, and its invalidator still
// starts and stops; any other mount follows them.
func TestSoleWriterFollowsNoFeed(t *testing.T) {
	srv, err := dbcore.NewServer(dbcore.Options{Dir: t.TempDir(), Engines: []engines.Engine{memengine.New()}, DefaultEngine: "mem"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tt := range []struct {
		sole      bool
		wantFeeds bool
	}{{sole: true, wantFeeds: false}, {sole: false, wantFeeds: true}} {
		m := newMount(srv, Options{SoleWriter: tt.sole})
		m.inv.start(&rootNode{node: node{m: m}})
		if got := m.inv.sub != nil; got != tt.wantFeeds {
			t.Errorf("SoleWriter %v: follows the changes feeds = %v, want %v", tt.sole, got, tt.wantFeeds)
		}
		m.inv.stop()
	}
}
