package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Keys of the FUSE floor rows.
const (
	keyLoopSave1  = "loopback/rewrite-1"
	keyLoopSave16 = "loopback/rewrite-16"
	keyLoopRead   = "loopback/read"
	keyLoopReqs   = "loopback/requests-" // + shellOp.key
	keyPassPrefix = "loopback-passthrough/"
)

const (
	groupLoopback    = "FUSE floor (go-fuse loopback over tmpfs, passthrough off)"
	groupPassthrough = "go-fuse loopback with kernel passthrough (its default here)"
)

// mountTmpfs mounts a tmpfs on dir so the FUSE floor measures FUSE and not
// the disk. Without the privilege to mount it leaves dir a plain directory
// and says so in the returned description.
func mountTmpfs(dir string) (desc string, unmount func()) {
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1g,mode=0755"); err != nil {
		return fmt.Sprintf("a plain directory on the disk (tmpfs mount failed: %v)", err), func() {}
	}
	return "tmpfs", func() { _ = unix.Unmount(dir, unix.MNT_DETACH) }
}

// mountLoopback mounts go-fuse's loopback of backing on mnt with the
// options of go-fuse's example/loopback (1 s entry and attribute timeouts).
//
// go-fuse's loopback hands each open file to the kernel as a passthrough
// backing file where the kernel allows it (Linux 6.9+, root): READ and WRITE
// then never reach the server. couchfs serves rendered documents and cannot
// do that, and design.md §6 measured its floor without it (its request
// lists include WRITE), so the floor mounts with passthrough off; the
// passthrough figures are reported beside it for reference.
//
// With counter non-nil the node bridge is wrapped so that it counts every
// request; the timed mounts go without, so counting costs them nothing.
func mountLoopback(mnt, backing string, passthrough bool, counter **countingRawFS) (*fuse.Server, error) {
	root, err := gofs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, fmt.Errorf("%w: loopback root: %v", ErrBench, err)
	}
	sec := time.Second
	opts := &gofs.Options{
		AttrTimeout:     &sec,
		EntryTimeout:    &sec,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			DirectMount: true,
			FsName:      backing,
			Name:        "loopback",
		},
	}
	if !passthrough {
		opts.MountOptions.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	}
	raw := gofs.NewNodeFS(root, opts)
	if counter != nil {
		*counter = newCountingRawFS(raw)
		raw = *counter
	}
	srv, err := fuse.NewServer(raw, mnt, &opts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("%w: mount loopback: %v", ErrBench, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		_ = srv.Unmount()
		return nil, fmt.Errorf("%w: mount loopback: %v", ErrBench, err)
	}
	return srv, nil
}

// unmountServer unmounts a go-fuse server, lazily if the mount is busy, so
// the run never leaves a mount behind.
func unmountServer(srv *fuse.Server, mnt string) {
	if err := srv.Unmount(); err != nil {
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
	}
}

// measureLoopback measures the FUSE floor of design.md §6: go-fuse's
// loopback over tmpfs doing non-durable rewrites with 1 and 16 writers,
// reads, and the FUSE requests of the shell operations; then the same
// timings with passthrough on, for reference.
func measureLoopback(ctx context.Context, cfg *Config, rep *Report, dir string) {
	backing := filepath.Join(dir, "loopback-backing")
	mnt := filepath.Join(dir, "loopback-mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			rep.Fail(keyLoopSave1, groupLoopback, "mount", UnitOpsPerSec, err)
			return
		}
	}
	desc, unmountTmpfs := mountTmpfs(backing)
	defer unmountTmpfs()
	rep.Machine.Tmpfs = desc

	docs := filepath.Join(mnt, "docs")
	if srv, err := mountLoopback(mnt, backing, false, nil); err != nil {
		rep.Fail(keyLoopSave1, groupLoopback, "mount", UnitOpsPerSec, err)
	} else {
		loopbackTimings(ctx, cfg, rep, groupLoopback, "loopback/", false, docs)
		unmountServer(srv, mnt)
	}

	// A mount of its own counts what the shell's own operations cost, with
	// fresh kernel caches, as the couchfs mount's counts are taken; the
	// counting stays out of the timed steps.
	var reqs *countingRawFS
	if srv, err := mountLoopback(mnt, backing, false, &reqs); err != nil {
		for _, op := range shellOps {
			rep.Fail(keyLoopReqs+op.key, groupLoopback, op.name, UnitRequests, err)
		}
	} else {
		countShellOps(ctx, rep, groupLoopback, keyLoopReqs, "", docs, reqs.snapshot, false)
		unmountServer(srv, mnt)
	}

	if srv, err := mountLoopback(mnt, backing, true, nil); err != nil {
		rep.Fail(keyPassPrefix+"rewrite-1", groupPassthrough, "mount", UnitOpsPerSec, err)
	} else {
		loopbackTimings(ctx, cfg, rep, groupPassthrough, keyPassPrefix, true, docs)
		unmountServer(srv, mnt)
	}
}

// loopbackTimings times rewrites with 1 and 16 writers and reads in files,
// a directory of a loopback mount.
func loopbackTimings(ctx context.Context, cfg *Config, rep *Report, group, prefix string, passthrough bool, files string) {
	for _, w := range []int{1, 16} {
		key := fmt.Sprintf("%srewrite-%d", prefix, w)
		name := fmt.Sprintf("open+write+close rewrite, no fsync, %s", plural(w, "writer"))
		m, err := measure{}, prepareSlots(cfg, files, "doc", w, false)
		if err == nil {
			m, err = rewrites(ctx, cfg, files, "doc", w, false)
		}
		if err != nil {
			rep.Fail(key, group, name, UnitOpsPerSec, err)
			continue
		}
		row := Row{Key: key, Group: group, Name: name, Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds()}
		if passthrough {
			row.Baseline = fmt.Sprintf("loopback/rewrite-%d", w)
		}
		rep.Add(row)
	}
	key := prefix + "read"
	m, err := readFiles(ctx, cfg, files, "doc", 1)
	if err != nil {
		rep.Fail(key, group, "open+read+close", UnitOpsPerSec, err)
		return
	}
	row := Row{Key: key, Group: group, Name: "open+read+close", Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds(), Baseline: keyNativeRead}
	if passthrough {
		row.Baseline = keyLoopRead
	}
	rep.Add(row)
}
