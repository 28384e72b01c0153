package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// Crash test sizes: small enough that the default 3 rounds per engine take
// seconds on a 2-core machine, large enough that group commits of several
// writers and multi-block bodies are in flight when the kill lands.
const (
	crashWriters       = 6
	crashDocsPerWriter = 10
	crashMinRun        = 20 * time.Millisecond
	crashMaxRun        = 500 * time.Millisecond
)

// crashStats sums one engine's crash run for the report.
type crashStats struct {
	rounds, savesAcked, deletesAcked, unacked, inFlightLanded, lost int
	// wedged counts kills after which couchfs could not exit until its
	// FUSE connection was aborted (see childMount.crash).
	wedged int
}

// TestCrashRecovery mounts the couchfs binary, lets concurrent writers save
// and delete documents through the mount, SIGKILLs the mount at a random
// moment, detaches the dead mount and checks that nothing acknowledged was
// lost: every save whose close returned 0 is present with exactly its
// content (or that of a later save), every acknowledged delete stayed
// deleted (unless a later save recreated the doc), each database passes its
// engine's Check and its counters match a fold. Then it remounts, verifies
// the same through the mount, and goes on with the next round.
//
// COUCHFS_CRASH_SEED replays a run; COUCHFS_CRASH_ROUNDS sets the rounds
// per engine (default 3).
func TestCrashRecovery(t *testing.T) {
	bin := needBinary(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COUCHFS_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("COUCHFS_CRASH_SEED=%q: %v", s, err)
		}
	}
	rounds := envInt(t, "COUCHFS_CRASH_ROUNDS", 3)
	t.Logf("seed %d (COUCHFS_CRASH_SEED=%d replays), %d rounds per engine", seed, seed, rounds)
	for i, eng := range []string{"couch", "pebble"} {
		t.Run(eng, func(t *testing.T) {
			st := crashEngine(t, bin, eng, seed+uint64(i), rounds)
			t.Logf("engine %s: %d rounds, %d saves and %d deletes acknowledged, %d lost, %d in flight at kill (%d of them landed), %d kills wedged until the connection was aborted",
				eng, st.rounds, st.savesAcked, st.deletesAcked, st.lost, st.unacked, st.inFlightLanded, st.wedged)
		})
	}
}

func crashEngine(t *testing.T, bin, engName string, seed uint64, rounds int) crashStats {
	eng := engineByName(t, engName)
	dataDir, mnt := t.TempDir(), t.TempDir()
	logPath := filepath.Join(t.TempDir(), "couchfs.log")
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	m := startMount(t, bin, dataDir, mnt, logPath)
	dbDir := mkdirDB(t, mnt, "crash", eng.Ext())
	var docs []*docHistory
	writers := make([]*crashWriter, crashWriters)
	killed := new(atomic.Bool)
	for w := range writers {
		writers[w] = &crashWriter{dbDir: dbDir, killed: killed}
		for d := range crashDocsPerWriter {
			h := &docHistory{id: fmt.Sprintf("w%d-d%02d", w, d), next: 1}
			writers[w].docs = append(writers[w].docs, h)
			docs = append(docs, h)
		}
	}

	var st crashStats
	var lastSeq uint64
	for round := range rounds {
		killed.Store(false)
		for _, w := range writers {
			w.rng = rand.New(rand.NewPCG(rng.Uint64(), uint64(round)))
			w.savesAcked, w.deletesAcked, w.unacked, w.preKill = 0, 0, 0, nil
		}
		runFor := crashMinRun + time.Duration(rng.Int64N(int64(crashMaxRun-crashMinRun)))
		stop := runWriters(writers)
		time.Sleep(runFor)
		killed.Store(true)
		if m.crash() {
			st.wedged++
		}
		stop()
		m.detach()

		for _, w := range writers {
			st.savesAcked += w.savesAcked
			st.deletesAcked += w.deletesAcked
			st.unacked += w.unacked
			for _, err := range w.preKill {
				t.Errorf("round %d: error while the mount was alive: %v", round, err)
			}
		}

		counts, lost, landed := verifyDataDir(t, dataDir, "crash", eng, docs)
		if counts.UpdateSeq < lastSeq {
			t.Errorf("round %d: update_seq went back from %d to %d", round, lastSeq, counts.UpdateSeq)
		}
		lastSeq = counts.UpdateSeq
		st.lost += lost
		st.inFlightLanded += landed
		st.rounds++
		if t.Failed() {
			t.Fatalf("round %d (seed %d, killed after %v) failed", round, seed, runFor)
		}

		m = startMount(t, bin, dataDir, mnt, logPath)
		verifyMounted(t, dbDir, docs)
	}
	m.stop()
	if _, err := checkStored(dataDir, "crash", eng); err != nil {
		t.Fatalf("after clean unmount: %v", err)
	}
	return st
}

// verifyMounted requires the mount to show exactly the settled model.
func verifyMounted(t *testing.T, dbDir string, docs []*docHistory) {
	t.Helper()
	for _, h := range docs {
		got, err := readDocState(dbDir, h.id)
		if err != nil {
			t.Fatalf("read through the mount: %v", err)
		}
		if got != h.base {
			t.Fatalf("doc %q reads %v through the remounted fs, but %v is stored", h.id, got, h.base)
		}
	}
}

// mkdirDB creates database name with the engine of extension ext through
// the mount and returns its directory there. design.md names the extension
// in mkdir; the directory then shows the bare name.
func mkdirDB(t testing.TB, mnt, name, ext string) string {
	t.Helper()
	if err := os.Mkdir(filepath.Join(mnt, name+ext), 0o755); err != nil {
		t.Fatalf("create database: %v", err)
	}
	dir := filepath.Join(mnt, name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("after mkdir %s%s: %s is not a directory (%v)", name, ext, dir, err)
	}
	return dir
}

func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
