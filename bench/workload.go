package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBench marks a benchmark step that could not be measured; the wrapped
// error says which step and why.
var ErrBench = errors.New("bench")

// cmdTimeout bounds every external command a step runs (ls, cp, grep, sh),
// so a hung mount fails the step instead of the whole run.
const cmdTimeout = 5 * time.Minute

// measure is the outcome of one timed loop.
type measure struct {
	Ops     int
	Elapsed time.Duration
}

// Rate is operations per second.
func (m measure) Rate() float64 {
	if m.Elapsed <= 0 {
		return 0
	}
	return float64(m.Ops) / m.Elapsed.Seconds()
}

// runOps runs op from workers goroutines until d has passed or maxOps
// operations (over all workers; 0 = no cap) have started. Each worker calls
// op(w, i) with its index w and its own running count i. The first error
// stops every worker and is returned.
func runOps(ctx context.Context, workers int, d time.Duration, maxOps int, op func(w, i int) error) (measure, error) {
	var (
		claimed  atomic.Int64
		done     atomic.Int64
		stop     atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	// Every step starts on a quiet disk, so that it does not pay for the
	// writeback of the step before (a bulk load leaves ~130 MB dirty).
	unix.Sync()
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				if stop.Load() || ctx.Err() != nil || time.Now().After(deadline) {
					return
				}
				if maxOps > 0 && claimed.Add(1) > int64(maxOps) {
					return
				}
				if err := op(w, i); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				done.Add(1)
			}
		}(w)
	}
	wg.Wait()
	m := measure{Ops: int(done.Load()), Elapsed: time.Since(start)}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return m, firstErr
}

// docJSON returns a compact JSON object of about size bytes, different for
// every (w, i) so that no layer can deduplicate it.
func docJSON(size, w, i int) []byte {
	head := fmt.Sprintf(`{"type":"bench","writer":%d,"seq":%d,"text":"`, w, i)
	const tail = `"}` + "\n"
	n := size - len(head) - len(tail)
	if n < 0 {
		n = 0
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	for j := 0; j < n; j++ {
		b = append(b, "abcdefghijklmnopqrstuvwxyz0123456789"[(i+w+j)%36])
	}
	return append(b, tail...)
}

// docID names the document of writer w, slot i, in the order `ls` sorts it.
func docID(prefix string, w, i int) string {
	return fmt.Sprintf("%s-%03d-%07d", prefix, w, i)
}

// runCmd runs name with args (never with a working directory inside a
// mount) and returns how long it took. Output goes to /dev/null; stderr is
// kept for the error.
func runCmd(ctx context.Context, name string, args ...string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return elapsed, fmt.Errorf("%w: %s %s: %v: %s", ErrBench, name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return elapsed, nil
}

// bestOf runs f n times and returns its shortest time: the run least
// disturbed by the other tenants of the machine.
func bestOf(n int, f func() (time.Duration, error)) (time.Duration, error) {
	var best time.Duration
	for i := 0; i < n; i++ {
		d, err := f()
		if err != nil {
			return 0, err
		}
		if i == 0 || d < best {
			best = d
		}
	}
	return best, nil
}

// memoryMB is what this process holds in memory, in MiB, after a
// collection: its resident set less the free heap pages the Go runtime
// keeps for reuse. The mount's server runs in this process, so that is the
// mount's memory plus the benchmark's own live data, without the garbage
// of the step just measured (such as its prebuilt documents). It used to
// be the resident set after debug.FreeOSMemory, which gave the same figure
// but handed those pages back to the system, and the next step took them
// back one page fault at a time: ~10 us each on the VMs measured, about
// one per in-process save, a quarter of a 16-writer save's time.
func memoryMB() float64 {
	runtime.GC()
	free := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(free)
	rss := rssMB()
	if free[0].Value.Kind() == metrics.KindUint64 {
		rss -= float64(free[0].Value.Uint64()) / (1 << 20)
	}
	return max(rss, 0)
}

// rssMB reads this process's resident set size from /proc, in MiB; 0 if
// unknown.
func rssMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, err := strconv.ParseFloat(f[0], 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}

// writeFiles creates n files named name(i) in dir holding data(i), without
// syncing: fixtures, not measurements.
func writeFiles(dir string, n int, name func(int) string, data func(int) []byte) error {
	for i := 0; i < n; i++ {
		if err := os.WriteFile(dir+"/"+name(i), data(i), 0o644); err != nil {
			return fmt.Errorf("%w: fixture: %v", ErrBench, err)
		}
	}
	return nil
}

// plural renders "1 writer", "16 writers": row names read as prose.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
