package fs

import (
	"os"
	"runtime"
	"sync"
)

// ServeProcs is the GOMAXPROCS a process serving a mount runs best with:
// twice its CPUs. A P is the runtime's right to run Go code, and a thread
// blocked in a system call keeps its P until the runtime's monitor takes it
// back, 20 µs to 10 ms later. A mount always has such threads: go-fuse's
// readers wait in read(2) on /dev/fuse, and a database's updater waits in
// fdatasync. With only as many Ps as CPUs, a goroutine woken meanwhile (the
// FLUSH waiting for its commit, a new request's reader) waits for the
// monitor, and the monitor, finding work every time, wakes every 20 µs.
// With spare Ps the woken goroutine runs at once on an idle one. Measured
// on 2 CPUs, writers in other processes: 10% more durable saves through
// the mount, with 1 writer and with 16.
func ServeProcs() int { return 2 * runtime.NumCPU() }

// SetServeProcs sets GOMAXPROCS to ServeProcs unless the environment chose
// it (GOMAXPROCS set), and returns a func restoring the previous value
// (calling it again does nothing). Call it after Mount: go-fuse sizes its
// pool of readers from GOMAXPROCS when it mounts, and readers sized for
// the extra Ps only add threads taking turns at /dev/fuse (16 concurrent
// readers of documents lost 15% that way, saves gained nothing). It changes
// the whole process: call it from the goroutine that sets the process up
// (couchfs mount, couchfs bench), not from a library user's.
func SetServeProcs() (restore func()) {
	if os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(ServeProcs())
	var once sync.Once
	return func() { once.Do(func() { runtime.GOMAXPROCS(prev) }) }
}
