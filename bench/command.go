package bench

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/couchfs/couchfs/engines"
)

// EngineTable makes a fresh set of engines and returns them with a func
// that frees what they share, to call once every server using them is
// closed: the shape of mountcmd's explicit engine table.
type EngineTable func() ([]engines.Engine, func())

// Command returns the `couchfs bench` command. table is mountcmd's engine
// table; defaultEngines name the engines measured when no --engine is
// given. The command prints a progress line per step on the app's
// ErrWriter and the table (or, with --json, the JSON report) on its Writer.
func Command(table EngineTable, defaultEngines []string) *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure couchfs through a real mount against the floors of design.md §6",
		Description: `Mounts couchfs on a temporary directory (beside --dir, on the same disk) and
measures in one run: raw fdatasync, a native directory, go-fuse's loopback over
tmpfs (the FUSE floor), then for each engine durable saves with 1/16/64 writers,
reads, ls of a large database and of its _changes, grep -r, cp of many files,
FUSE requests per shell operation, and the same saves and bulk loads in process
through dbcore next to a raw Pebble synced batch. Every figure is printed with
its ratio to its baseline and the design target, met or not.

With --peer URL it instead drives a CouchDB-compatible HTTP server (see
bench/pouchdb/run.sh) beside couchfs doing the same work through a mount.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quick", Usage: "small sizes and short steps: finishes in under a minute"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON instead of a table"},
			&cli.StringSliceFlag{Name: "engine", Usage: "engine to measure (repeatable)", Value: cli.NewStringSlice(defaultEngines...)},
			// No default Value: the help text must not depend on $TMPDIR.
			&cli.StringFlag{Name: "dir", Usage: "directory for the temporary data and mounts; its disk is the one measured (default: $TMPDIR, else /tmp)"},
			&cli.StringFlag{Name: "profile", Usage: "write CPU and allocation profiles of the save and bulk steps to this directory"},
			&cli.StringFlag{Name: "peer", Usage: "URL of a CouchDB-compatible server to compare with (e.g. http://127.0.0.1:5985)"},
		},
		Action: func(c *cli.Context) error {
			all, release := table()
			defer release()
			engs, err := pickEngines(all, c.StringSlice("engine"))
			if err != nil {
				return err
			}
			cfg := Config{Sizes: FullSizes(), Quick: c.Bool("quick"), Dir: c.String("dir"), Engines: engs,
				Progress: c.App.ErrWriter, ProfileDir: c.String("profile")}
			if cfg.Quick {
				cfg.Sizes = QuickSizes()
			}
			if cfg.Progress == nil {
				cfg.Progress = os.Stderr
			}
			// Ctrl-C stops the current step; the deferred unmounts still run.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			var rep *Report
			if url := c.String("peer"); url != "" {
				rep, err = RunPeer(ctx, cfg, url)
			} else {
				rep, err = Run(ctx, cfg)
			}
			if rep == nil {
				return err
			}
			out := c.App.Writer
			if out == nil {
				out = os.Stdout
			}
			if c.Bool("json") {
				if werr := rep.WriteJSON(out); werr != nil {
					return werr
				}
			} else if werr := rep.WriteTable(out); werr != nil {
				return werr
			}
			return err
		},
	}
}
