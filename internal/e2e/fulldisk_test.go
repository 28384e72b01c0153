package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Full-disk test sizes. The tmpfs is small so filling it is instant; the
// headroom left after the filler is a few commits' worth.
const (
	fullTmpfsSize  = "8m"
	fullHeadroom   = 192 << 10
	fullMaxSaves   = 400
	fullExtraSaves = 5
	// fullSaveTimeout bounds one save on the full disk: it must fail
	// (or succeed) at once, not wait for space.
	fullSaveTimeout = 10 * time.Second
)

// fullDiskOutcome is what one engine did when its disk filled up.
type fullDiskOutcome struct {
	acked, failed int
	errnos        map[syscall.Errno]int
	blocked       bool   // a save waited for space instead of failing
	readable      int    // acknowledged documents that read back on the full disk
	afterFree     string // what saves did once space was freed
}

// TestFullDisk puts the data directory on a tiny tmpfs, fills it through a
// filler file and keeps saving through the couchfs binary's mount until the
// disk is full. Saves must then fail promptly with ENOSPC at close() and
// never report success for a save that is not durable (every acknowledged
// save is checked after the unmount). Every acknowledged document and
// _info must read while the disk is full (dbcore serves the database
// read-only while it cannot reopen it). Once space is freed,
// saves must work again without a remount within faultRecoverTimeout, and
// every acknowledged document must read back through the mount. The mount
// then exits 0 on SIGTERM, the engine's Check passes, and after a remount
// saves work.
func TestFullDisk(t *testing.T) {
	bin := needBinary(t)
	for _, engName := range []string{"couch", "pebble"} {
		t.Run(engName, func(t *testing.T) {
			out := fullDisk(t, bin, engName)
			t.Logf("engine %s: %d saves acknowledged, %d failed (errnos %v), %d acknowledged documents read back while the disk was full; after freeing space: %s",
				engName, out.acked, out.failed, out.errnos, out.readable, out.afterFree)
		})
	}
}

// fullDiskRun is one engine's full-disk episode; the test goroutine owns it.
type fullDiskRun struct {
	t      *testing.T
	m      *childMount
	dbDir  string
	filler string
	docs   []*docHistory
	out    fullDiskOutcome
}

// save creates the next document with one open/write/close through the
// mount and records the outcome. A save that blocks is reported, space is
// freed to let it finish, and the run goes on to recovery.
func (r *fullDiskRun) save() error {
	h := &docHistory{id: fmt.Sprintf("d%04d", len(r.docs)), next: 2}
	h.ops = append(h.ops, opRecord{after: docState{Exists: true, V: 1}})
	r.docs = append(r.docs, h)
	done := make(chan error, 1)
	go func() { done <- saveDoc(r.dbDir, h.id, docBody(h.id, 1)) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(fullSaveTimeout):
		r.out.blocked = true
		r.t.Errorf("save %s blocked for %v on a full disk: a writer must get ENOSPC or EIO, not wait for space", h.id, fullSaveTimeout)
		r.freeSpace()
		select {
		case err = <-done:
		case <-time.After(fullSaveTimeout):
			r.m.crash()
			r.t.Fatalf("save %s did not return even after space was freed (then: %v)", h.id, <-done)
		}
	}
	if err == nil {
		h.ops[0].acked = true
		r.out.acked++
		return nil
	}
	r.out.failed++
	var errno syscall.Errno
	errors.As(err, &errno)
	r.out.errnos[errno]++
	checkFullDiskErrno(r.t, err)
	return err
}

// checkFullDiskErrno requires a save that failed on a full disk to fail
// as docs/semantics.md §12 says: ENOSPC where the save met the disk, at
// close(); its open() only reads, which works while the database is
// reopened.
func checkFullDiskErrno(t *testing.T, err error) {
	t.Helper()
	var errno syscall.Errno
	errors.As(err, &errno)
	if errno != syscall.ENOSPC || saveStep(err) != "close" {
		t.Errorf("a save on a full disk failed with %v; want ENOSPC at close()", err)
	}
}

// checkAcked reads every acknowledged document through the mount: it must
// hold its content. It returns how many did.
func (r *fullDiskRun) checkAcked(when string) (ok int) {
	r.t.Helper()
	for _, h := range r.docs {
		if !h.ops[0].acked {
			continue
		}
		got, err := readDocState(r.dbDir, h.id)
		if err != nil || got != h.ops[0].after {
			r.t.Errorf("%s, acknowledged %s reads %v (err %v)", when, h.id, got, err)
			continue
		}
		ok++
	}
	return ok
}

func (r *fullDiskRun) freeSpace() {
	if err := os.Remove(r.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.t.Fatal(err)
	}
}

func fullDisk(t *testing.T, bin, engName string) fullDiskOutcome {
	eng := engineByName(t, engName)
	tmp := mountTmpfs(t, fullTmpfsSize)
	dataDir := filepath.Join(tmp, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "couchfs.log")
	r := &fullDiskRun{t: t, filler: filepath.Join(tmp, "filler"), out: fullDiskOutcome{errnos: map[syscall.Errno]int{}}}
	r.m = startMount(t, bin, dataDir, mnt, logPath)
	r.dbDir = mkdirDB(t, mnt, "full", eng.Ext())

	for range 5 {
		if err := r.save(); err != nil {
			t.Fatalf("save before filling the disk: %v", err)
		}
	}
	fill(t, r.filler, tmp, fullHeadroom)
	full := false
	for range fullMaxSaves {
		if r.save() != nil || r.out.blocked {
			full = true
			break
		}
	}
	if !full {
		t.Fatalf("%d saves fit into %d bytes of headroom", fullMaxSaves, fullHeadroom)
	}
	for range fullExtraSaves {
		if r.out.blocked {
			break
		}
		_ = r.save()
	}

	r.out.readable = r.checkAcked("while the disk is full")
	if _, err := os.ReadFile(filepath.Join(r.dbDir, "_info")); err != nil {
		t.Errorf("while the disk is full, _info: %v; want its content", err)
	}

	r.freeSpace()
	began := time.Now()
	for failed := 0; !r.out.blocked; failed++ {
		err := r.save()
		if err == nil {
			r.out.afterFree = "the first save works"
			if failed > 0 {
				r.out.afterFree = fmt.Sprintf("saves work after %d failed attempts (%v)", failed, time.Since(began).Round(time.Millisecond))
			}
			break
		}
		if time.Since(began) > faultRecoverTimeout {
			t.Fatalf("%v after space was freed, saves still fail without a remount (%d attempts): %v", faultRecoverTimeout, failed+1, err)
		}
		time.Sleep(faultRetryInterval)
	}
	if r.out.blocked {
		r.out.afterFree = "a save had blocked until space was freed"
	}
	r.checkAcked("once saves work again")

	r.m.stop()
	if _, lost, _ := verifyDataDir(t, dataDir, "full", eng, r.docs); lost > 0 {
		t.Fatalf("%d acknowledged saves lost on a full disk", lost)
	}

	startMount(t, bin, dataDir, mnt, logPath)
	verifyMounted(t, r.dbDir, r.docs)
	for i := range 3 {
		id := fmt.Sprintf("after%d", i)
		if err := saveDoc(r.dbDir, id, docBody(id, 1)); err != nil {
			t.Fatalf("save after remount with free space: %v", err)
		}
	}
	return r.out
}

// mountTmpfs mounts a tmpfs of the given size on a fresh directory until
// the test ends. Only root can mount one: other users skip (the in-process
// TestStorageFaults covers ENOSPC for them); for root a failure fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; TestStorageFaults covers ENOSPC below the engines")
	}
	dir := t.TempDir()
	if _, err := run(context.Background(), "mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir); err != nil {
		t.Fatalf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if _, err := run(context.Background(), "umount", "-l", dir); err != nil {
			t.Errorf("unmount tmpfs: %v", err)
		}
	})
	return dir
}

// fill writes a file at path until the file system holding dir has only
// headroom bytes free.
func fill(t *testing.T, path, dir string, headroom int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free <= headroom {
		t.Fatalf("only %d bytes free before filling", free)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for left := free - headroom; left > 0; left -= int64(len(chunk)) {
		if int64(len(chunk)) > left {
			chunk = chunk[:left]
		}
		if _, err := f.Write(chunk); err != nil {
			t.Fatalf("filling: %v", err)
		}
	}
}
