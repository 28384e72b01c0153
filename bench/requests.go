package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// shellOp is one of the shell's own operations whose FUSE request count
// design.md §6 bounds.
type shellOp struct {
	key    string
	name   string
	target float64
	// prepare runs before counting; run is the counted command. Both get
	// the directory and the attempt number.
	prepare func(dir string, n int) string
	run     func(dir string, n int) string
}

const shellDoc = `{"k":"v","n":1}`

var shellOps = []shellOp{
	{
		key: "cat", name: "cat of a document already read", target: 2,
		prepare: func(dir string, n int) string {
			f := filepath.Join(dir, fmt.Sprintf("req-cat-%d.json", n))
			return fmt.Sprintf("echo '%s' > %s && cat %s > /dev/null", shellDoc, f, f)
		},
		run: func(dir string, n int) string {
			return fmt.Sprintf("cat %s > /dev/null", filepath.Join(dir, fmt.Sprintf("req-cat-%d.json", n)))
		},
	},
	{
		key: "echo-over", name: "echo > an existing document", target: 5,
		prepare: func(dir string, n int) string {
			f := filepath.Join(dir, fmt.Sprintf("req-over-%d.json", n))
			return fmt.Sprintf("echo '%s' > %s && cat %s > /dev/null", shellDoc, f, f)
		},
		run: func(dir string, n int) string {
			return fmt.Sprintf(`echo '{"k":"w","n":2}' > %s`, filepath.Join(dir, fmt.Sprintf("req-over-%d.json", n)))
		},
	},
	{
		key: "echo-create", name: "echo > a new document", target: 6,
		prepare: func(string, int) string { return "true" },
		run: func(dir string, n int) string {
			return fmt.Sprintf("echo '%s' > %s", shellDoc, filepath.Join(dir, fmt.Sprintf("req-new-%d.json", n)))
		},
	},
}

// requestAttempts is how many times each operation is counted; the least
// is reported, so a stray kernel request (a FORGET, a readahead) does not
// count against the operation.
const requestAttempts = 3

// countShellOps counts, for every shellOp, the FUSE requests the mount
// receives while sh runs it against dir, and adds one row per operation
// (with the design target when withTargets).
func countShellOps(ctx context.Context, rep *Report, group, keyPrefix, baselinePrefix, dir string, snapshot func() map[string]uint64, withTargets bool) {
	for _, op := range shellOps {
		key := keyPrefix + op.key
		best, detail := -1, ""
		var failed error
		for n := 0; n < requestAttempts && failed == nil; n++ {
			if _, err := runCmd(ctx, "sh", "-c", op.prepare(dir, n)); err != nil {
				failed = err
				break
			}
			settle(snapshot)
			before := snapshot()
			if _, err := runCmd(ctx, "sh", "-c", op.run(dir, n)); err != nil {
				failed = err
				break
			}
			after := settle(snapshot)
			total, d := diffCounts(before, after)
			if best < 0 || total < best {
				best, detail = total, d
			}
		}
		if failed != nil {
			rep.Fail(key, group, op.name, UnitRequests, failed)
			continue
		}
		row := Row{Key: key, Group: group, Name: op.name, Value: float64(best), Unit: UnitRequests, Detail: detail}
		if baselinePrefix != "" {
			row.Baseline = baselinePrefix + op.key
		}
		if withTargets {
			row.Target = &Target{Cmp: "<=", Value: op.target, Absolute: true}
		}
		rep.Add(row)
	}
}

// settle waits until the request counts stop changing: RELEASE and FORGET
// reach the server after the process that caused them has exited. It gives
// up after a second and returns the last snapshot.
func settle(snapshot func() map[string]uint64) map[string]uint64 {
	const step = 20 * time.Millisecond
	last := snapshot()
	stable := 0
	for i := 0; i < 50 && stable < 3; i++ {
		time.Sleep(step)
		cur := snapshot()
		if _, d := diffCounts(last, cur); d == "" {
			stable++
		} else {
			stable = 0
		}
		last = cur
	}
	return last
}

// diffCounts returns how many requests happened between two snapshots and
// which, as "FLUSH GETATTR×2 OPEN" (opcodes sorted by name). FORGET is left
// out, as fs.Stats.Total does: the kernel sends it when it drops an inode
// from its cache, not as part of any one operation.
func diffCounts(before, after map[string]uint64) (int, string) {
	var names []string
	total := 0
	for op, n := range after {
		if d := int(n - before[op]); d > 0 && op != "FORGET" {
			total += d
			names = append(names, op)
		}
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, op := range names {
		d := int(after[op] - before[op])
		if d == 1 {
			parts = append(parts, op)
		} else {
			parts = append(parts, fmt.Sprintf("%s×%d", op, d))
		}
	}
	return total, strings.Join(parts, " ")
}
