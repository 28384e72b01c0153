// Package bench implements `couchfs bench`: it measures couchfs through a
// real FUSE mount, in process through dbcore, and the floors design.md §6
// holds it to (fdatasync, a native directory, go-fuse's loopback, raw
// Pebble), all in one run, and reports every figure with its ratio to its
// baseline and the §6 target.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/couchfs/couchfs/engines"
)

// Sizes are the knobs of a run. A throughput step runs StepDuration or
// MaxOps operations (over all workers; 0 = no cap), whichever ends first.
type Sizes struct {
	StepDuration time.Duration `json:"step_duration_ns"`
	MaxOps       int           `json:"max_ops"`
	ListDocs     int           `json:"list_docs"`  // documents in the db that ls lists
	BulkFiles    int           `json:"bulk_files"` // files cp copies into a db
	BulkDocs     int           `json:"bulk_docs"`  // documents of the in-process bulk load
	BulkBatch    int           `json:"bulk_batch"` // documents per UpdateDocs / Pebble batch
	DocSize      int           `json:"doc_size"`   // bytes of each document's JSON
	LsRuns       int           `json:"ls_runs"`    // ls and grep report the best of this many
	Writers      []int         `json:"writers"`    // concurrent writers of the save steps
	// Slots is how many files (documents) a rewrite step spreads its
	// writers over. Through the mount every rewrite adds a revision, and a
	// document's revision tree (up to revs_limit entries) is decoded on
	// open and re-encoded on save, so rewriting a handful of files for
	// seconds would measure ever deeper trees and tie the rate to the
	// step's length; over a few hundred the trees stay shallow.
	Slots int `json:"slots"`
}

// FullSizes is the configuration of `couchfs bench`: design.md §6 sizes.
func FullSizes() Sizes {
	return Sizes{StepDuration: 3 * time.Second, ListDocs: 100_000, BulkFiles: 10_000, BulkDocs: 100_000, BulkBatch: 1000,
		DocSize: 1024, LsRuns: 3, Writers: []int{1, 16, 64}, Slots: 256}
}

// QuickSizes is the configuration of `couchfs bench --quick`: the same
// steps, sized to finish in under a minute. Its rewrites spread over 64
// documents, not 256: in half a second one in-process writer (~5,000
// saves/s) took 256 documents to ~11 revisions while 16 writers reached
// the step's cap of ~40 (inprocDepth), so the 16/1 ratio compared two
// histories; over 64 both reach ~40, as in a full run.
func QuickSizes() Sizes {
	return Sizes{StepDuration: 500 * time.Millisecond, ListDocs: 10_000, BulkFiles: 1000, BulkDocs: 20_000, BulkBatch: 1000,
		DocSize: 1024, LsRuns: 2, Writers: []int{1, 16, 64}, Slots: 64}
}

// Config is one run: which engines, where, how big, where progress goes.
type Config struct {
	Sizes
	Quick bool
	// Dir is where the run's temporary directories go; its disk is the
	// disk measured. Default os.TempDir().
	Dir string
	// Engines are the engines measured through the mount and in process,
	// each a fresh instance (one per server, as mountcmd makes them).
	Engines []engines.Engine
	// Progress receives one line per step; nil for none.
	Progress io.Writer
	// ProfileDir, when set, receives CPU and allocation profiles of the
	// save and bulk steps (see profileStep).
	ProfileDir string
}

// Run measures everything of cfg and returns the report with every ratio
// computed. It mounts and unmounts on temporary directories under cfg.Dir
// and removes them before returning. Call it from one goroutine at a time:
// the CPU profiler and the RSS figures are per process.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	if len(cfg.Writers) == 0 || cfg.BulkBatch <= 0 || cfg.DocSize <= 0 || cfg.LsRuns <= 0 || cfg.StepDuration <= 0 || cfg.Slots <= 0 {
		return nil, fmt.Errorf("%w: incomplete sizes %+v", ErrBench, cfg.Sizes)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("%w: FUSE is not available: %v", ErrBench, err)
	}
	base, err := os.MkdirTemp(cfg.Dir, "couchfs-bench-")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBench, err)
	}
	defer os.RemoveAll(base)
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBench, err)
		}
	}
	rep := &Report{Quick: cfg.Quick, Sizes: cfg.Sizes, Started: time.Now(), progress: cfg.Progress}
	rep.Machine = describeMachine(base)
	rep.Step("run in %s on %s", base, rep.Machine.Disk)

	src := filepath.Join(base, "bulk-src")
	measureFloors(ctx, &cfg, rep, base, src)
	measureLoopback(ctx, &cfg, rep, base)
	addSerialBound(rep)
	for _, eng := range cfg.Engines {
		if ctx.Err() != nil {
			break
		}
		measureMount(ctx, &cfg, rep, eng, base, src)
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.finish()
	return rep, ctx.Err()
}

// pickEngines picks the engines named, in that order, from the table.
func pickEngines(table []engines.Engine, names []string) ([]engines.Engine, error) {
	byName := make(map[string]engines.Engine, len(table))
	known := make([]string, 0, len(table))
	for _, e := range table {
		byName[e.Name()] = e
		known = append(known, e.Name())
	}
	var out []engines.Engine
	for _, n := range names {
		e, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("%w: unknown engine %q (known: %s)", ErrBench, n, strings.Join(known, ", "))
		}
		out = append(out, e)
	}
	return out, nil
}
