package pebble_test

import (
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
	"github.com/couchfs/couchfs/engines/pebble"
)

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) engines.Engine { return pebble.New(pebble.Options{}) })
}
