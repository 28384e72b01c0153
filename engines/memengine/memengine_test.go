package memengine_test

import (
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
	"github.com/couchfs/couchfs/engines/memengine"
)

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(*testing.T) engines.Engine { return memengine.New() })
}
