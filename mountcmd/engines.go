package mountcmd

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	pebbleengine "github.com/couchfs/couchfs/engines/pebble"
)

// defaultEngine is the engine of databases created without an extension.
const defaultEngine = "couch"

// engineNames lists the engines couchfs knows, in the order help shows them.
var engineNames = []string{"couch", "pebble"}

// pebbleCacheSize is the block cache all Pebble databases share.
const pebbleCacheSize = 64 << 20

// engineTable is the explicit name → engine table: the only place couchfs
// names concrete engines. The returned release func frees what the engines
// share and must be called after the server using them is closed.
func engineTable() ([]engines.Engine, func()) {
	cache := pebble.NewCache(pebbleCacheSize)
	table := []engines.Engine{
		couchfile.New(couchfile.Options{}),
		pebbleengine.New(pebbleengine.Options{Cache: cache}),
	}
	return table, cache.Unref
}

// checkEngine validates an --engine value.
func checkEngine(name string) error {
	for _, n := range engineNames {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("unknown engine %q (known: %s)", name, strings.Join(engineNames, ", "))
}
