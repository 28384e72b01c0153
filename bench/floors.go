package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Keys of the floor rows, which later rows name as their baseline.
const (
	keyFdatasync    = "floor/fdatasync"
	keyOverwrite    = "floor/fdatasync-overwrite"
	keyNativeSave1  = "native/save-1"
	keyNativeSave16 = "native/save-16"
	keyNativeRead   = "native/read"
	keyNativeLs     = "native/ls"
	keyNativeCp     = "native/cp"
	keyNativeGrep   = "native/grep"
)

const groupFloor = "floor (native disk)"

// measureFloors measures what the disk under dir can do without any file
// system layer of ours: fdatasync of 1 KB appends, durable 1 KB file
// rewrites, reads, and ls/cp/grep of as many files as the couchfs steps use.
// It leaves the cp source in srcDir for the mount steps.
func measureFloors(ctx context.Context, cfg *Config, rep *Report, dir, srcDir string) {
	if m, err := fdatasyncAppends(ctx, cfg, dir); err != nil {
		rep.Fail(keyFdatasync, groupFloor, "fdatasync of 1 KB appends", UnitOpsPerSec, err)
	} else {
		rep.Add(Row{Key: keyFdatasync, Group: groupFloor, Name: "fdatasync of 1 KB appends", Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds()})
	}
	// The durable write one serial writer's save cannot do without: each
	// save needs at least one fdatasync that completes before close()
	// returns (see addSerialBound).
	const overwriteName = "fdatasync of a 1 KB overwrite in place"
	if m, err := fdatasyncOverwrites(ctx, cfg, dir); err != nil {
		rep.Fail(keyOverwrite, groupFloor, overwriteName, UnitOpsPerSec, err)
	} else {
		rep.Add(Row{Key: keyOverwrite, Group: groupFloor, Name: overwriteName, Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds(),
			Baseline: keyLoopSave1})
	}

	files := filepath.Join(dir, "native-docs")
	for _, w := range []int{1, 16} {
		key := map[int]string{1: keyNativeSave1, 16: keyNativeSave16}[w]
		name := fmt.Sprintf("write+fsync+close 1 KB file, %s", plural(w, "writer"))
		m, err := measure{}, prepareSlots(cfg, files, "doc", w, false)
		if err == nil {
			m, err = rewrites(ctx, cfg, files, "doc", w, true)
		}
		if err != nil {
			rep.Fail(key, groupFloor, name, UnitOpsPerSec, err)
			continue
		}
		rep.Add(Row{Key: key, Group: groupFloor, Name: name, Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds(), Baseline: keyFdatasync})
	}
	if m, err := readFiles(ctx, cfg, files, "doc", 1); err != nil {
		rep.Fail(keyNativeRead, groupFloor, "open+read+close 1 KB file", UnitOpsPerSec, err)
	} else {
		rep.Add(Row{Key: keyNativeRead, Group: groupFloor, Name: "open+read+close 1 KB file", Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds()})
	}

	lsDir := filepath.Join(dir, "native-ls")
	lsName := fmt.Sprintf("ls of %d files", cfg.ListDocs)
	if err := os.Mkdir(lsDir, 0o755); err != nil {
		rep.Fail(keyNativeLs, groupFloor, lsName, UnitSeconds, err)
	} else if err := writeFiles(lsDir, cfg.ListDocs, func(i int) string { return docID("ls", 0, i) + ".json" }, func(int) []byte { return nil }); err != nil {
		rep.Fail(keyNativeLs, groupFloor, lsName, UnitSeconds, err)
	} else if d, err := bestOf(cfg.LsRuns, func() (_ time.Duration, err error) { return runCmd(ctx, "ls", lsDir) }); err != nil {
		rep.Fail(keyNativeLs, groupFloor, lsName, UnitSeconds, err)
	} else {
		rep.Add(Row{Key: keyNativeLs, Group: groupFloor, Name: lsName, Value: d.Seconds(), Unit: UnitSeconds})
	}
	_ = os.RemoveAll(lsDir)

	cpName := fmt.Sprintf("cp -r of %d 1 KB files", cfg.BulkFiles)
	if err := os.Mkdir(srcDir, 0o755); err != nil {
		rep.Fail(keyNativeCp, groupFloor, cpName, UnitDocsPerSec, err)
		return
	}
	if err := writeFiles(srcDir, cfg.BulkFiles, func(i int) string { return docID("bulk", 0, i) + ".json" }, func(i int) []byte { return docJSON(cfg.DocSize, 0, i) }); err != nil {
		rep.Fail(keyNativeCp, groupFloor, cpName, UnitDocsPerSec, err)
		return
	}
	dst := filepath.Join(dir, "native-cp")
	if err := os.Mkdir(dst, 0o755); err != nil {
		rep.Fail(keyNativeCp, groupFloor, cpName, UnitDocsPerSec, err)
		return
	}
	if d, err := runCmd(ctx, "cp", "-r", srcDir+"/.", dst); err != nil {
		rep.Fail(keyNativeCp, groupFloor, cpName, UnitDocsPerSec, err)
	} else {
		rep.Add(Row{Key: keyNativeCp, Group: groupFloor, Name: cpName + " (no fsync)", Value: float64(cfg.BulkFiles) / d.Seconds(), Unit: UnitDocsPerSec, Ops: cfg.BulkFiles, Seconds: d.Seconds()})
	}
	grepName := fmt.Sprintf("grep -r over %d files", cfg.BulkFiles)
	if d, err := bestOf(cfg.LsRuns, func() (time.Duration, error) { return runCmd(ctx, "grep", "-r", "-l", "bench", dst) }); err != nil {
		rep.Fail(keyNativeGrep, groupFloor, grepName, UnitSeconds, err)
	} else {
		rep.Add(Row{Key: keyNativeGrep, Group: groupFloor, Name: grepName, Value: d.Seconds(), Unit: UnitSeconds})
	}
	_ = os.RemoveAll(dst)
}

// fdatasyncAppends appends 1 KB records to one file, fdatasync after each:
// the durability floor of design.md §6.
func fdatasyncAppends(ctx context.Context, cfg *Config, dir string) (measure, error) {
	f, err := os.OpenFile(filepath.Join(dir, "fdatasync.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return measure{}, fmt.Errorf("%w: fdatasync floor: %v", ErrBench, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rec := docJSON(1024, 0, 0)
	return runOps(ctx, 1, cfg.StepDuration, cfg.MaxOps, func(_, _ int) error {
		if _, err := f.Write(rec); err != nil {
			return err
		}
		return unix.Fdatasync(int(f.Fd()))
	})
}

// Key and group of the bound the floors set on one writer's durable saves.
const (
	keySerialBound   = "bound/durable-save-1"
	groupSerialBound = "bound on 1-writer durable saves (from the floors above)"
)

// addSerialBound adds, once the overwrite floor and the FUSE floor are
// measured, the fastest one serial writer's durable saves through FUSE can
// go: each is a rewrite's FUSE round trips (OPEN, WRITE, FLUSH) and, before
// the FLUSH can be answered, an fdatasync no cheaper than the overwrite
// floor's, one after the other, so their times add up. Held to the
// 1-writer save target (0.7× loopback/rewrite-1), it shows whether that
// target can be met on this machine at all.
func addSerialBound(rep *Report) {
	name := "serial save bound: loopback rewrite + overwrite fdatasync"
	over, ok1 := rep.Row(keyOverwrite)
	loop, ok2 := rep.Row(keyLoopSave1)
	if !ok1 || !ok2 || over.Err != "" || loop.Err != "" || over.Value <= 0 || loop.Value <= 0 {
		rep.Fail(keySerialBound, groupSerialBound, name, UnitOpsPerSec, fmt.Errorf("%w: needs rows %s and %s", ErrBench, keyOverwrite, keyLoopSave1))
		return
	}
	rate := 1 / (1/over.Value + 1/loop.Value)
	rep.Add(Row{Key: keySerialBound, Group: groupSerialBound, Name: name, Value: rate, Unit: UnitOpsPerSec,
		Baseline: keyLoopSave1, Target: &Target{Cmp: ">=", Value: 0.7},
		Detail: "a 1-writer durable save costs at least a rewrite's FUSE round trips plus one fdatasync, in series: NOT MET here means the 1-writer save target cannot be met on this machine"})
}

// fdatasyncOverwrites overwrites the first 1 KB of a file whose block is
// already allocated and durable, fdatasync after each: the cheapest durable
// write there is, since no metadata has to reach the disk with it (the
// couch engine's commits are such overwrites, into the zero tail it keeps
// written ahead of its end). One serial writer's durable saves cannot go
// faster than this.
func fdatasyncOverwrites(ctx context.Context, cfg *Config, dir string) (measure, error) {
	f, err := os.OpenFile(filepath.Join(dir, "fdatasync-overwrite.dat"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return measure{}, fmt.Errorf("%w: overwrite floor: %v", ErrBench, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		return measure{}, fmt.Errorf("%w: overwrite floor: %v", ErrBench, err)
	}
	// fsync, not fdatasync: the block and the file's size must be on disk
	// before the first timed write, so that none of them changes metadata.
	if err := f.Sync(); err != nil {
		return measure{}, fmt.Errorf("%w: overwrite floor: %v", ErrBench, err)
	}
	recs := [2][]byte{docJSON(1024, 0, 0), docJSON(1024, 0, 1)}
	return runOps(ctx, 1, cfg.StepDuration, cfg.MaxOps, func(_, i int) error {
		if _, err := f.WriteAt(recs[i%2], 0); err != nil {
			return err
		}
		return unix.Fdatasync(int(f.Fd()))
	})
}

// slotsPer is how many files each of writers cycles through in a rewrite
// step: its share of cfg.Slots, and at least 4.
func slotsPer(cfg *Config, writers int) int {
	return max(4, cfg.Slots/max(writers, 1))
}

// revisionsReached describes how deep the documents of a rewrite step got:
// one revision from the fixture plus the step's rewrites spread over them.
func revisionsReached(cfg *Config, ops, writers int) string {
	return fmt.Sprintf("docs reached ~%d revisions", 1+ops/(writers*slotsPer(cfg, writers)))
}

// slotName is the file of writer w, slot s, in the rewrite workloads.
func slotName(dir, prefix string, w, s int) string {
	return filepath.Join(dir, docID(prefix, w, s)+".json")
}

// prepareSlots writes every writer's slot files once and, with readBack,
// reads each once: through a mount that is how a document's revision comes
// to be the one "last served", the base of the rewrites that follow.
func prepareSlots(cfg *Config, dir, prefix string, writers int, readBack bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrBench, err)
	}
	buf := make([]byte, 64<<10)
	for w := 0; w < writers; w++ {
		for s := 0; s < slotsPer(cfg, writers); s++ {
			p := slotName(dir, prefix, w, s)
			if err := os.WriteFile(p, docJSON(cfg.DocSize, w, s), 0o644); err != nil {
				return fmt.Errorf("%w: %v", ErrBench, err)
			}
			if readBack {
				if err := readWhole(p, buf); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// rewrites is the rewrite loop shared by the native floor, the FUSE floor
// and the mount: open with O_TRUNC, write ~1 KB, fsync if durable, close.
// The slot files must exist.
func rewrites(ctx context.Context, cfg *Config, dir, prefix string, writers int, durable bool) (measure, error) {
	return runOps(ctx, writers, cfg.StepDuration, cfg.MaxOps, func(w, i int) error {
		f, err := os.OpenFile(slotName(dir, prefix, w, i%slotsPer(cfg, writers)), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write(docJSON(cfg.DocSize, w, i)); err != nil {
			f.Close()
			return err
		}
		if durable {
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
		}
		return f.Close()
	})
}

// readFiles opens, reads and closes slot files from readers goroutines,
// reader w cycling through writer w's slots, which must exist.
func readFiles(ctx context.Context, cfg *Config, dir, prefix string, readers int) (measure, error) {
	buf := make([][]byte, readers)
	for i := range buf {
		buf[i] = make([]byte, 64<<10)
	}
	return runOps(ctx, readers, cfg.StepDuration, cfg.MaxOps, func(w, i int) error {
		return readWhole(slotName(dir, prefix, w, i%slotsPer(cfg, readers)), buf[w])
	})
}

// readWhole is open, read until EOF into buf, close: what cat does.
func readWhole(path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	total := 0
	for {
		n, err := f.Read(buf)
		total += n
		if n == 0 || err != nil {
			break
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if total == 0 {
		return fmt.Errorf("%w: %s read empty", ErrBench, path)
	}
	return nil
}
