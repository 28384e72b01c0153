package bench

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	cfs "github.com/couchfs/couchfs/fs"
)

// Row keys of one engine's steps through the mount.
func keyMountSave(eng string, writers int) string {
	return fmt.Sprintf("%s/mount/save-%d", eng, writers)
}

func keyMount(eng, step string) string { return eng + "/mount/" + step }

// mounted is a couchfs server mounted for the benchmark.
type mounted struct {
	srv    *dbcore.Server
	handle *cfs.Handle
	mnt    string
}

// mountCouchfs opens a server on a fresh data dir under base with the one
// engine eng and mounts it on a fresh directory under base.
func mountCouchfs(base string, eng engines.Engine) (*mounted, error) {
	data := filepath.Join(base, eng.Name()+"-data")
	mnt := filepath.Join(base, eng.Name()+"-mnt")
	for _, d := range []string{data, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBench, err)
		}
	}
	// Warnings only: the fs logs every commit, and thousands of lines per
	// second on stderr would be part of what is measured.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := dbcore.NewServer(dbcore.Options{Dir: data, Engines: []engines.Engine{eng}, DefaultEngine: eng.Name(), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("%w: server: %v", ErrBench, err)
	}
	// Mounted as couchfs mount mounts: the sole writer of its server. The
	// run also writes to this server in process (fixtures, the in-process
	// steps), but to databases and documents nothing reads through the
	// mount afterwards, so no kernel cache goes stale.
	h, err := cfs.Mount(mnt, srv, cfs.Options{Logger: logger, DataDir: data, SoleWriter: true})
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("%w: mount: %v", ErrBench, err)
	}
	return &mounted{srv: srv, handle: h, mnt: mnt}, nil
}

// close unmounts (lazily if the mount is busy, so no mount outlives the
// run) and closes the server.
func (m *mounted) close() {
	if err := m.handle.Unmount(); err != nil {
		_ = cfs.LazyUnmount(m.mnt)
	}
	_ = m.srv.Close()
}

// serveWrites runs the timed write loops of the mount steps with the Ps
// couchfs mount has (fs.SetServeProcs). The loops are goroutines of the
// process serving the mount, which no real writer is: each one blocked in
// close() until its save is durable holds one of the process's Ps, which
// the server's own goroutines then wait for; couchfs mount's writers are
// other processes and take none. With the spare Ps the server gets what it
// has under couchfs mount. The serial read loop runs with the defaults:
// it holds a P only for a round trip, and extra Ps there only add thread
// wake-ups that a reader in its own process does not see.
func serveWrites(f func() error) error {
	restore := cfs.SetServeProcs()
	defer restore()
	return f()
}

// requestCounts adapts the mount's per-opcode counters to the snapshot
// shape countShellOps diffs.
func (m *mounted) requestCounts() map[string]uint64 {
	out := map[string]uint64{}
	for op, n := range m.handle.Stats() {
		out[op] = uint64(n)
	}
	return out
}

// measureMount runs every step through a real couchfs mount on engine eng,
// then the in-process steps on the same server.
func measureMount(ctx context.Context, cfg *Config, rep *Report, eng engines.Engine, base, srcDir string) {
	name := eng.Name()
	group := name + " through the mount"
	m, err := mountCouchfs(base, eng)
	if err != nil {
		rep.Fail(keyMountSave(name, 1), group, "mount", UnitOpsPerSec, err)
		return
	}
	defer func() {
		m.close()
		_ = os.RemoveAll(filepath.Join(base, name+"-data"))
	}()

	saves := filepath.Join(m.mnt, "saves")
	if err := m.srv.CreateDB("saves", ""); err != nil {
		rep.Fail(keyMountSave(name, 1), group, "create db", UnitOpsPerSec, err)
		return
	}
	sdb, err := m.srv.OpenDB("saves")
	if err != nil {
		rep.Fail(keyMountSave(name, 1), group, "open db", UnitOpsPerSec, err)
		return
	}
	defer sdb.Close()
	loopKey := map[int]string{1: keyLoopSave1, 16: keyLoopSave16}
	for _, writers := range cfg.Writers {
		key := keyMountSave(name, writers)
		title := fmt.Sprintf("durable save (open+write 1 KB+close), %s", plural(writers, "writer"))
		prefix := fmt.Sprintf("w%d", writers)
		var meas measure
		var handlers cfs.Timings
		var commits string
		err := prepareSlots(cfg, saves, prefix, writers, true)
		if err == nil {
			before, stats := m.handle.Timings(), sdb.CommitStats()
			err = profileStep(cfg, fmt.Sprintf("%s-mount-save-%d", name, writers), func() error {
				return serveWrites(func() (err error) {
					meas, err = rewrites(ctx, cfg, saves, prefix, writers, false)
					return err
				})
			})
			handlers = m.handle.Timings().Sub(before)
			commits = commitDetail(stats, sdb.CommitStats())
		}
		if err != nil {
			rep.Fail(key, group, title, UnitOpsPerSec, err)
			continue
		}
		row := Row{Key: key, Group: group, Name: title, Value: meas.Rate(), Unit: UnitOpsPerSec, Ops: meas.Ops, Seconds: meas.Elapsed.Seconds(),
			Baseline: loopKey[writers], Compare: keyInprocSave(name, writers),
			Detail: revisionsReached(cfg, meas.Ops, writers) + "; " + commits + "; " + handlerDetail(handlers, meas.Ops)}
		if row.Baseline == "" {
			row.Baseline = keyLoopSave16
		} else {
			row.Target = &Target{Cmp: ">=", Value: 0.7}
		}
		rep.Add(row)
	}

	createKey := keyMount(name, "create-1")
	createName := "durable create (open O_CREAT+write 1 KB+close), 1 writer"
	var created measure
	if err := serveWrites(func() (err error) {
		created, err = runOps(ctx, 1, cfg.StepDuration, cfg.MaxOps, func(w, i int) error {
			return os.WriteFile(filepath.Join(saves, docID("new", w, i)+".json"), docJSON(cfg.DocSize, w, i), 0o644)
		})
		return err
	}); err != nil {
		rep.Fail(createKey, group, createName, UnitOpsPerSec, err)
	} else {
		rep.Add(Row{Key: createKey, Group: group, Name: createName, Value: created.Rate(), Unit: UnitOpsPerSec, Ops: created.Ops, Seconds: created.Elapsed.Seconds(), Baseline: keyLoopSave1})
	}

	// Reads go to documents of one revision, written and read once (the
	// page cache then holds them, as it holds the floor's files): the
	// common document, not one the save steps rewrote thousands of times.
	readKey := keyMount(name, "read")
	var meas measure
	err = prepareSlots(cfg, saves, "r", 1, true)
	if err == nil {
		err = profileStep(cfg, name+"-mount-read", func() (err error) {
			meas, err = readFiles(ctx, cfg, saves, "r", 1)
			return err
		})
	}
	if err != nil {
		rep.Fail(readKey, group, "open+read+close", UnitOpsPerSec, err)
	} else {
		rep.Add(Row{Key: readKey, Group: group, Name: "open+read+close", Value: meas.Rate(), Unit: UnitOpsPerSec, Ops: meas.Ops, Seconds: meas.Elapsed.Seconds(),
			Baseline: keyLoopRead, Target: &Target{Cmp: ">=", Value: 1}})
	}

	countShellOps(ctx, rep, group, keyMount(name, "requests-"), keyLoopReqs, saves, m.requestCounts, true)

	measureMountBulk(ctx, cfg, rep, m, name, group, srcDir)
	measureMountList(ctx, cfg, rep, m, name, group)
	measureInProc(ctx, cfg, rep, name, base, m.srv)
}

// handlerDetail describes where a step's requests spent their time inside
// the file system: requests per operation and each opcode's mean handler
// time, in the order a save sends them ("4.0 requests/op, handler time:
// OPEN 2.1µs, WRITE 1.6µs, FLUSH 280µs, RELEASE 1.3µs"); an opcode not sent
// once per operation shows how many times it was ("LOOKUP×0.02 48µs").
// The rest of an operation's time is FUSE's round trips and the wait for a
// thread to serve them.
func handlerDetail(t cfs.Timings, ops int) string {
	if ops == 0 || len(t) == 0 {
		return "no requests"
	}
	order := []string{"LOOKUP", "OPEN", "CREATE", "GETATTR", "SETATTR", "WRITE", "FLUSH", "FSYNC", "RELEASE"}
	var total uint64
	var parts []string
	// FORGET belongs to no operation: the kernel sends it when it drops an
	// inode from its cache (as fs.Stats.Total leaves it out).
	seen := map[string]bool{"FORGET": true}
	add := func(op string) {
		x, ok := t[op]
		if !ok || seen[op] {
			return
		}
		seen[op] = true
		total += x.Requests
		part := fmt.Sprintf("%s %v", op, x.Mean().Round(100*time.Nanosecond))
		if per := float64(x.Requests) / float64(ops); per < 0.95 || per > 1.05 {
			part = fmt.Sprintf("%s×%.2g %v", op, per, x.Mean().Round(100*time.Nanosecond))
		}
		parts = append(parts, part)
	}
	for _, op := range order {
		add(op)
	}
	rest := make([]string, 0, len(t))
	for op := range t {
		rest = append(rest, op)
	}
	sort.Strings(rest)
	for _, op := range rest {
		add(op)
	}
	return fmt.Sprintf("%.1f requests/op, handler time: %s", float64(total)/float64(ops), strings.Join(parts, ", "))
}

// measureMountBulk copies the bulk source files into a new database with
// cp -r, then greps them back.
func measureMountBulk(ctx context.Context, cfg *Config, rep *Report, m *mounted, name, group, srcDir string) {
	cpKey, grepKey := keyMount(name, "cp"), keyMount(name, "grep")
	cpName := fmt.Sprintf("cp -r of %d 1 KB files into a db", cfg.BulkFiles)
	grepName := fmt.Sprintf("grep -r over %d docs", cfg.BulkFiles)
	if err := m.srv.CreateDB("bulk", ""); err != nil {
		rep.Fail(cpKey, group, cpName, UnitDocsPerSec, err)
		return
	}
	dst := filepath.Join(m.mnt, "bulk")
	d, err := runCmd(ctx, "cp", "-r", srcDir+"/.", dst)
	if err == nil {
		err = checkDocCount(m.srv, "bulk", cfg.BulkFiles)
	}
	if err != nil {
		rep.Fail(cpKey, group, cpName, UnitDocsPerSec, err)
		return
	}
	rep.Add(Row{Key: cpKey, Group: group, Name: cpName, Value: float64(cfg.BulkFiles) / d.Seconds(), Unit: UnitDocsPerSec, Ops: cfg.BulkFiles, Seconds: d.Seconds(),
		Baseline: keyNativeCp, Compare: keyInprocBulk(name)})
	if d, err := bestOf(cfg.LsRuns, func() (time.Duration, error) { return runCmd(ctx, "grep", "-r", "-l", "bench", dst) }); err != nil {
		rep.Fail(grepKey, group, grepName, UnitSeconds, err)
	} else {
		rep.Add(Row{Key: grepKey, Group: group, Name: grepName, Value: d.Seconds(), Unit: UnitSeconds, Baseline: keyNativeGrep})
	}
}

// checkDocCount fails unless db holds want live documents: a copy that
// reports success but stored fewer documents must not yield a rate.
func checkDocCount(srv *dbcore.Server, name string, want int) error {
	db, err := srv.OpenDB(name)
	if err != nil {
		return err
	}
	defer db.Close()
	n := 0
	if err := db.AllDocs(engines.FoldOptions{}, func(dbcore.DocRow) error { n++; return nil }); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%w: %s holds %d documents, want %d", ErrBench, name, n, want)
	}
	return nil
}

// measureMountList fills a database with cfg.ListDocs documents in process
// (a fixture, not a measurement) and times ls of it and of its _changes.
func measureMountList(ctx context.Context, cfg *Config, rep *Report, m *mounted, name, group string) {
	lsKey, chKey := keyMount(name, "ls"), keyMount(name, "ls-changes")
	lsName := fmt.Sprintf("ls of a %d-doc db", cfg.ListDocs)
	chName := fmt.Sprintf("ls of its _changes (%d entries)", cfg.ListDocs)
	fail := func(err error) {
		rep.Fail(lsKey, group, lsName, UnitSeconds, err)
		rep.Fail(chKey, group, chName, UnitSeconds, err)
	}
	if err := m.srv.CreateDB("list", ""); err != nil {
		fail(err)
		return
	}
	db, err := m.srv.OpenDB("list")
	if err != nil {
		fail(err)
		return
	}
	start := time.Now()
	for from := 0; from < cfg.ListDocs; from += cfg.BulkBatch {
		// Built batch by batch: 100,000 bodies at once would make the RSS
		// figures measure the fixture.
		docs := make([]*dbcore.Doc, min(cfg.BulkBatch, cfg.ListDocs-from))
		for i := range docs {
			docs[i] = &dbcore.Doc{ID: docID("ls", 0, from+i), Body: bytes.TrimSpace(docJSON(cfg.DocSize, 0, from+i))}
		}
		if _, err = updateAll(ctx, db, [][]*dbcore.Doc{docs}); err != nil {
			break
		}
	}
	db.Close()
	if err != nil {
		fail(err)
		return
	}
	rep.Step("%s: filled a %d-doc db in process in %.1f s", group, cfg.ListDocs, time.Since(start).Seconds())
	dir := filepath.Join(m.mnt, "list")
	for _, c := range []struct{ key, name, path string }{{lsKey, lsName, dir}, {chKey, chName, filepath.Join(dir, "_changes")}} {
		d, err := bestOf(cfg.LsRuns, func() (time.Duration, error) { return runCmd(ctx, "ls", c.path) })
		if err == nil {
			err = checkListing(ctx, c.path, cfg.ListDocs)
		}
		if err != nil {
			rep.Fail(c.key, group, c.name, UnitSeconds, err)
			continue
		}
		rep.Add(Row{Key: c.key, Group: group, Name: c.name, Value: d.Seconds(), Unit: UnitSeconds,
			Baseline: keyNativeLs, Target: &Target{Cmp: "<=", Value: 3}})
	}
}

// checkListing fails unless dir lists at least want ".json" entries: an ls
// that returned early would otherwise look fast.
func checkListing(ctx context.Context, dir string, want int) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBench, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("%w: readdir %s: %v", ErrBench, dir, err)
	}
	n := 0
	for _, name := range names {
		if filepath.Ext(name) == ".json" {
			n++
		}
	}
	if n < want {
		return fmt.Errorf("%w: %s lists %d documents, want %d", ErrBench, dir, n, want)
	}
	return ctx.Err()
}
