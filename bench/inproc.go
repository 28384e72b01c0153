package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/couchfs/couchfs/dbcore"
)

// keyRawPebble is the row of the raw Pebble floor measured just before
// eng's in-process bulk load.
func keyRawPebble(eng string) string { return "pebble-raw/bulk-" + eng }

// Row keys of one engine's in-process steps.
func keyInprocSave(eng string, writers int) string {
	return fmt.Sprintf("%s/inproc/save-%d", eng, writers)
}
func keyInprocBulk(eng string) string { return eng + "/inproc/bulk" }

// bulkBatches builds the documents of the bulk workloads once, before any
// clock starts: total docs of ~size bytes in batches of batch.
func bulkBatches(prefix string, total, batch, size int) [][]*dbcore.Doc {
	var out [][]*dbcore.Doc
	for start := 0; start < total; start += batch {
		n := min(batch, total-start)
		docs := make([]*dbcore.Doc, n)
		for i := range docs {
			docs[i] = &dbcore.Doc{ID: docID(prefix, 0, start+i), Body: bytes.TrimSpace(docJSON(size, 0, start+i))}
		}
		out = append(out, docs)
	}
	return out
}

// updateAll stores batches through UpdateDocs and fails on the first
// per-document error: a bulk load that silently drops documents would
// report a rate for work not done.
func updateAll(ctx context.Context, db *dbcore.DB, batches [][]*dbcore.Doc) (measure, error) {
	start := time.Now()
	n := 0
	for _, docs := range batches {
		if err := ctx.Err(); err != nil {
			return measure{}, err
		}
		res, err := db.UpdateDocs(docs, dbcore.UpdateOptions{})
		if err != nil {
			return measure{}, fmt.Errorf("%w: UpdateDocs: %v", ErrBench, err)
		}
		for _, r := range res {
			if r.Err != nil {
				return measure{}, fmt.Errorf("%w: UpdateDocs %s: %v", ErrBench, r.ID, r.Err)
			}
		}
		n += len(docs)
	}
	return measure{Ops: n, Elapsed: time.Since(start)}, nil
}

// measureRawPebble writes the bulk workload's bytes (id → body) straight
// into a new Pebble store in dir, one synced batch per 1,000 documents: the
// floor eng's in-process bulk load is held to. It runs just before that
// load, so the two share the machine's state (the page cache the mount
// steps dirtied, the background work they left), which a floor measured at
// the start of the run did not.
func measureRawPebble(ctx context.Context, cfg *Config, rep *Report, eng, group, dir string) {
	key := keyRawPebble(eng)
	name := fmt.Sprintf("floor: raw Pebble, synced batches of %d, %d docs", cfg.BulkBatch, cfg.BulkDocs)
	path := filepath.Join(dir, "raw-"+eng+".pebble")
	db, err := pebble.Open(path, &pebble.Options{Logger: quietLogger{pebble.DefaultLogger}})
	if err != nil {
		rep.Fail(key, group, name, UnitDocsPerSec, fmt.Errorf("%w: pebble: %v", ErrBench, err))
		return
	}
	defer os.RemoveAll(path)
	defer db.Close()
	batches := bulkBatches("raw", cfg.BulkDocs, cfg.BulkBatch, cfg.DocSize)
	var m measure
	err = profileStep(cfg, "pebble-raw-bulk-"+eng, func() error {
		start := time.Now()
		for _, docs := range batches {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := db.NewBatch()
			for _, d := range docs {
				if err := b.Set([]byte(d.ID), d.Body, nil); err != nil {
					return err
				}
			}
			if err := b.Commit(pebble.Sync); err != nil {
				return err
			}
			m.Ops += len(docs)
		}
		m.Elapsed = time.Since(start)
		return nil
	})
	if err != nil {
		rep.Fail(key, group, name, UnitDocsPerSec, err)
		return
	}
	rep.Add(Row{Key: key, Group: group, Name: name, Value: m.Rate(), Unit: UnitDocsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds()})
}

// quietLogger keeps Pebble's informational lines out of the progress
// output; errors and fatal errors go to Pebble's default logger.
type quietLogger struct{ pebble.Logger }

func (quietLogger) Infof(string, ...any) {}

// measureInProc measures couchfs without FUSE: SaveJSON updates from 1, 16
// and 64 writers (group commit) and UpdateDocs bulk loads, on the server the
// mount steps used. The bulk load goes into a database of its own, as the
// raw Pebble floor's goes into a fresh store: loaded into the database the
// save steps had just filled with revisions, it would also be timing the
// flushes and compactions those saves left behind.
func measureInProc(ctx context.Context, cfg *Config, rep *Report, eng, dir string, srv *dbcore.Server) {
	group := eng + " in-process (dbcore)"
	if err := srv.CreateDB("inproc", ""); err != nil {
		rep.Fail(keyInprocSave(eng, 1), group, "create db", UnitOpsPerSec, err)
		return
	}
	db, err := srv.OpenDB("inproc")
	if err != nil {
		rep.Fail(keyInprocSave(eng, 1), group, "open db", UnitOpsPerSec, err)
		return
	}
	defer db.Close()
	for _, writers := range cfg.Writers {
		key := keyInprocSave(eng, writers)
		name := fmt.Sprintf("SaveJSON update, %s", plural(writers, "writer"))
		m, commits, err := inprocSaves(ctx, cfg, db, eng, writers)
		if err != nil {
			rep.Fail(key, group, name, UnitOpsPerSec, err)
			continue
		}
		row := Row{Key: key, Group: group, Name: name, Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds(),
			Baseline: keyInprocSave(eng, 1), Detail: revisionsReached(cfg, m.Ops, writers) + "; " + commits}
		switch writers {
		case 1:
			row.Baseline = keyFdatasync
		case 16:
			row.Target = &Target{Cmp: ">=", Value: 5}
		}
		rep.Add(row)
	}

	measureInProcBulk(ctx, cfg, rep, eng, group, dir, srv)
}

// measureInProcBulk times UpdateDocs loading cfg.BulkDocs new documents in
// batches of cfg.BulkBatch into a new database.
func measureInProcBulk(ctx context.Context, cfg *Config, rep *Report, eng, group, dir string, srv *dbcore.Server) {
	measureRawPebble(ctx, cfg, rep, eng, group, dir)
	key := keyInprocBulk(eng)
	name := fmt.Sprintf("UpdateDocs batches of %d, %d docs", cfg.BulkBatch, cfg.BulkDocs)
	if err := srv.CreateDB("inproc-bulk", ""); err != nil {
		rep.Fail(key, group, name, UnitDocsPerSec, err)
		return
	}
	db, err := srv.OpenDB("inproc-bulk")
	if err != nil {
		rep.Fail(key, group, name, UnitDocsPerSec, err)
		return
	}
	defer db.Close()
	batches := bulkBatches("bulk", cfg.BulkDocs, cfg.BulkBatch, cfg.DocSize)
	var m measure
	err = profileStep(cfg, eng+"-inproc-bulk", func() (err error) {
		m, err = updateAll(ctx, db, batches)
		return err
	})
	if err != nil {
		rep.Fail(key, group, name, UnitDocsPerSec, err)
		return
	}
	rep.Add(Row{Key: key, Group: group, Name: name, Value: m.Rate(), Unit: UnitDocsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds(),
		Baseline: keyRawPebble(eng), Target: &Target{Cmp: ">=", Value: 0.5}})
}

// inprocDepth bounds the revisions an in-process save step gives each of
// its documents. Timed for a fixed duration, 16 writers took their
// documents to ~160 revisions while one writer reached ~40, and a save's
// cost grows with its document's history: the 16/1 ratio compared two
// workloads. With at most this many saves per document (a step also ends
// at StepDuration), every writer count meets the same histories.
const inprocDepth = 40

// inprocSaves creates slotsPer(cfg, writers) documents per writer, then times
// updates: each writer saves its own documents in turn with the rev its
// previous save returned, as an application holding its revs would. It
// also says how many saves shared each commit (commitDetail).
func inprocSaves(ctx context.Context, cfg *Config, db *dbcore.DB, eng string, writers int) (measure, string, error) {
	prefix := fmt.Sprintf("w%d", writers)
	revs := make([][]string, writers)
	for w := range revs {
		revs[w] = make([]string, slotsPer(cfg, writers))
		for s := range revs[w] {
			res, err := db.SaveJSON(docID(prefix, w, s), docJSON(cfg.DocSize, w, s), "")
			if err != nil {
				return measure{}, "", fmt.Errorf("%w: create %s: %v", ErrBench, docID(prefix, w, s), err)
			}
			revs[w][s] = res.Rev
		}
	}
	var m measure
	stats := db.CommitStats()
	err := profileStep(cfg, fmt.Sprintf("%s-inproc-save-%d", eng, writers), func() (err error) {
		maxOps := inprocDepth * writers * slotsPer(cfg, writers)
		if cfg.MaxOps > 0 {
			maxOps = min(maxOps, cfg.MaxOps)
		}
		m, err = runOps(ctx, writers, cfg.StepDuration, maxOps, func(w, i int) error {
			s := i % slotsPer(cfg, writers)
			res, err := db.SaveJSON(docID(prefix, w, s), docJSON(cfg.DocSize, w, i), revs[w][s])
			if err != nil {
				return fmt.Errorf("%w: save %s: %v", ErrBench, docID(prefix, w, s), err)
			}
			revs[w][s] = res.Rev
			return nil
		})
		return err
	})
	return m, commitDetail(stats, db.CommitStats()), err
}

// commitDetail says how many saves each commit served between two
// CommitStats of a database: what group commit made of the step's writers.
func commitDetail(before, after dbcore.CommitStats) string {
	commits := after.Commits - before.Commits
	if commits == 0 {
		return "no commits"
	}
	return fmt.Sprintf("%.1f saves per commit", float64(after.Requests-before.Requests)/float64(commits))
}
