// Command couchfs mounts a directory of CouchDB-style document databases as
// a filesystem. See README.md and docs/semantics.md.
package main

import (
	"os"

	"github.com/couchfs/couchfs/mountcmd"
)

func main() {
	app := mountcmd.NewApp()
	os.Exit(mountcmd.Run(app, os.Args, os.Stderr))
}
