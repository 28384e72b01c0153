package e2e

import (
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	"github.com/couchfs/couchfs/engines/pebble"
)

// testEngines builds the engines couchfs ships, configured as mountcmd's
// table configures them by default. Internal tests may name concrete
// engines; only mountcmd may outside tests (design.md §2).
func testEngines() []engines.Engine {
	return []engines.Engine{couchfile.New(couchfile.Options{}), pebble.New(pebble.Options{})}
}

// engineByName returns the shipped engine called name ("couch", "pebble").
func engineByName(t testing.TB, name string) engines.Engine {
	t.Helper()
	for _, e := range testEngines() {
		if e.Name() == name {
			return e
		}
	}
	t.Fatalf("no engine named %q", name)
	return nil
}
