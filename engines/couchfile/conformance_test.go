package couchfile_test

import (
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	"github.com/couchfs/couchfs/engines/enginetest"
)

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) engines.Engine { return couchfile.New(couchfile.Options{}) })
}
