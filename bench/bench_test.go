package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	"github.com/couchfs/couchfs/engines/pebble"
	cfs "github.com/couchfs/couchfs/fs"
)

// tinySizes runs every step of the quick configuration with a few hundred
// operations at most, so the test checks the plumbing, not the speed.
func tinySizes() Sizes {
	return Sizes{StepDuration: 2 * time.Second, MaxOps: 60, ListDocs: 300, BulkFiles: 120, BulkDocs: 300, BulkBatch: 100,
		DocSize: 1024, LsRuns: 1, Writers: []int{1, 16, 64}, Slots: 16}
}

func testEngines() []engines.Engine {
	return []engines.Engine{couchfile.New(couchfile.Options{}), pebble.New(pebble.Options{})}
}

// needFUSE skips a test that mounts when there is no /dev/fuse, unless
// COUCHFS_REQUIRE_FUSE=1 (CI) makes that a failure.
func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("COUCHFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("COUCHFS_REQUIRE_FUSE=1 but /dev/fuse is unusable: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-5*time.Second))
	}
	t.Cleanup(cancel)
	return ctx
}

// wantKeys lists every row a run over the couch and pebble engines must
// produce.
var wantKeys = func() []string {
	keys := []string{
		"floor/fdatasync", "floor/fdatasync-overwrite", "native/save-1", "native/save-16", "native/read", "native/ls", "native/cp", "native/grep",
		"loopback/rewrite-1", "loopback/rewrite-16", "loopback/read",
		"loopback-passthrough/rewrite-1", "loopback-passthrough/rewrite-16", "loopback-passthrough/read",
		"loopback/requests-cat", "loopback/requests-echo-over", "loopback/requests-echo-create",
		"bound/durable-save-1", "pebble-raw/bulk-couch", "pebble-raw/bulk-pebble",
	}
	for _, eng := range []string{"couch", "pebble"} {
		for _, step := range []string{
			"mount/save-1", "mount/save-16", "mount/save-64", "mount/create-1", "mount/read",
			"mount/requests-cat", "mount/requests-echo-over", "mount/requests-echo-create",
			"mount/cp", "mount/grep", "mount/ls", "mount/ls-changes",
			"inproc/save-1", "inproc/save-16", "inproc/save-64", "inproc/bulk",
		} {
			keys = append(keys, eng+"/"+step)
		}
	}
	return keys
}()

func TestRunReportsEveryRow(t *testing.T) {
	needFUSE(t)
	var progress bytes.Buffer
	profiles := t.TempDir()
	rep, err := Run(testContext(t), Config{Sizes: tinySizes(), Quick: true, Dir: t.TempDir(), Engines: testEngines(), Progress: &progress, ProfileDir: profiles})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	checkProfiles(t, profiles)
	checkRequestRows(t, rep)
	checkNoMountsLeft(t, rep.Machine.Dir)
	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var decoded struct{ Rows []Row }
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatalf("JSON report does not decode: %v", err)
	}
	inJSON := map[string]Row{}
	for _, r := range decoded.Rows {
		inJSON[r.Key] = r
	}
	for _, key := range wantKeys {
		row, ok := rep.Row(key)
		if !ok {
			t.Errorf("no row %s", key)
			continue
		}
		if row.Err != "" {
			t.Errorf("row %s failed: %s", key, row.Err)
			continue
		}
		if row.Value <= 0 {
			t.Errorf("row %s has value %v", key, row.Value)
		}
		if row.Baseline != "" && row.Ratio == 0 {
			t.Errorf("row %s has no ratio to %s", key, row.Baseline)
		}
		if row.Target != nil && row.Met == nil {
			t.Errorf("row %s has a target but no verdict", key)
		}
		if !strings.Contains(table.String(), row.Name) {
			t.Errorf("table lacks row %s (%q)", key, row.Name)
		}
		if j, ok := inJSON[key]; !ok || j.Value != row.Value {
			t.Errorf("JSON row %s = %+v, want value %v", key, j, row.Value)
		}
	}
	if len(rep.Rows) != len(wantKeys) {
		t.Errorf("report has %d rows, want %d", len(rep.Rows), len(wantKeys))
	}
	if strings.Count(progress.String(), "\n") < len(wantKeys) {
		t.Errorf("want a progress line per step, got:\n%s", progress.String())
	}
	for _, eng := range []string{"couch", "pebble"} {
		for _, key := range []string{keyMountSave(eng, 16), keyInprocSave(eng, 16)} {
			if row, _ := rep.Row(key); !strings.Contains(row.Detail, " saves per commit") {
				t.Errorf("row %s does not say how many saves shared a commit: %q", key, row.Detail)
			}
		}
	}
	if t.Failed() {
		t.Logf("table:\n%s", table.String())
	}
}

// checkProfiles fails unless the save and bulk steps left CPU and
// allocation profiles: gzip-compressed pprof protobufs, not empty files.
func checkProfiles(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{
		"cpu-pebble-raw-bulk-couch.pprof", "allocs-pebble-raw-bulk-pebble.pprof", "allocs-pebble-raw-bulk-pebble-base.pprof",
		"cpu-couch-mount-save-16.pprof", "allocs-couch-mount-save-16.pprof", "cpu-couch-mount-read.pprof",
		"cpu-pebble-inproc-save-1.pprof", "cpu-pebble-inproc-bulk.pprof", "allocs-pebble-inproc-bulk.pprof",
	} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("profile: %v", err)
			continue
		}
		if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			t.Errorf("profile %s is not a gzip-compressed pprof (%d bytes)", name, len(data))
		}
	}
}

// checkRequestRows fails unless every FUSE request count agrees with the
// opcodes its detail lists ("FLUSH×2 OPEN" is 3) and the shell's
// operations cost at least the requests any FUSE file system must see.
func checkRequestRows(t *testing.T, rep *Report) {
	t.Helper()
	need := map[string][]string{"cat": {"OPEN"}, "echo-over": {"OPEN", "WRITE"}, "echo-create": {"CREATE", "WRITE"}}
	for _, row := range rep.Rows {
		if row.Unit != UnitRequests || row.Err != "" {
			continue
		}
		sum := 0
		for _, part := range strings.Fields(row.Detail) {
			n := 1
			if op, count, ok := strings.Cut(part, "×"); ok {
				if _, err := fmt.Sscan(count, &n); err != nil {
					t.Errorf("%s: bad detail %q", row.Key, row.Detail)
				}
				part = op
			}
			sum += n
		}
		if float64(sum) != row.Value {
			t.Errorf("%s = %v requests, but its detail %q lists %d", row.Key, row.Value, row.Detail, sum)
		}
		op := row.Key[strings.LastIndex(row.Key, "requests-")+len("requests-"):]
		for _, want := range need[op] {
			if !strings.Contains(row.Detail, want) {
				t.Errorf("%s: detail %q lacks %s", row.Key, row.Detail, want)
			}
		}
	}
}

// checkNoMountsLeft fails if any mount (FUSE or tmpfs) under dir outlived
// the run, and detaches it so the test leaves none behind.
func checkNoMountsLeft(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			t.Errorf("mount %s outlived the run", f[4])
			_ = unix.Unmount(f[4], unix.MNT_DETACH)
		}
	}
}

// fakeCouch is the part of the CouchDB HTTP API that RunPeer drives.
type fakeCouch struct {
	mu   sync.Mutex
	seq  int
	docs map[string]int // id → seq
}

func (f *fakeCouch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == "/":
		fmt.Fprint(w, `{"couchdb":"Welcome","version":"fake"}`)
	case len(parts) == 1 && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		w.WriteHeader(map[string]int{http.MethodPut: http.StatusCreated, http.MethodDelete: http.StatusOK}[r.Method])
		fmt.Fprint(w, `{"ok":true}`)
	case len(parts) == 2 && parts[1] == "_changes":
		fmt.Fprint(w, `{"results":[`)
		n := 0
		for id, seq := range f.docs {
			if n > 0 {
				fmt.Fprint(w, ",")
			}
			fmt.Fprintf(w, `{"seq":%d,"id":%q,"changes":[{"rev":"1-a"}]}`, seq, id)
			n++
		}
		fmt.Fprintf(w, `],"last_seq":%d}`, f.seq)
	case len(parts) == 2 && parts[1] == "_bulk_docs":
		var body struct {
			Docs []struct {
				ID string `json:"_id"`
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, "[")
		for i, d := range body.Docs {
			f.seq++
			f.docs[d.ID] = f.seq
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":"1-a"}`, d.ID)
		}
		fmt.Fprint(w, "]")
	case len(parts) == 2 && r.Method == http.MethodPut:
		f.seq++
		f.docs[parts[1]] = f.seq
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"ok":true,"id":%q,"rev":"1-a"}`, parts[1])
	default:
		http.Error(w, `{"error":"not_found"}`, http.StatusNotFound)
	}
}

func TestRunPeerReportsEveryRow(t *testing.T) {
	needFUSE(t)
	srv := httptest.NewServer(&fakeCouch{docs: map[string]int{}})
	defer srv.Close()
	var progress bytes.Buffer
	rep, err := RunPeer(testContext(t), Config{Sizes: tinySizes(), Dir: t.TempDir(), Engines: []engines.Engine{pebble.New(pebble.Options{})}, Progress: &progress}, srv.URL)
	if err != nil {
		t.Fatalf("RunPeer: %v\nprogress:\n%s", err, progress.String())
	}
	for _, key := range []string{"peer/put-1", "peer/put-16", "peer/bulk", "peer/changes",
		"pebble/peer/save-1", "pebble/peer/save-16", "pebble/peer/bulk", "pebble/peer/changes"} {
		row, ok := rep.Row(key)
		switch {
		case !ok:
			t.Errorf("no row %s", key)
		case row.Err != "":
			t.Errorf("row %s failed: %s", key, row.Err)
		case strings.HasPrefix(key, "pebble/") && row.Ratio == 0:
			t.Errorf("row %s has no ratio to %s", key, row.Baseline)
		}
	}
	if row, _ := rep.Row("pebble/peer/save-1"); row.Target == nil || row.Met == nil {
		t.Errorf("serial save row lacks the 4× pouchdb target verdict: %+v", row)
	}
}

func TestFinishComputesRatiosAndVerdicts(t *testing.T) {
	tests := []struct {
		name      string
		row       Row
		wantRatio float64
		wantMet   *bool
	}{
		{"rate above target", Row{Key: "a", Value: 80, Baseline: "base", Target: &Target{Cmp: ">=", Value: 0.7}}, 0.8, ptr(true)},
		{"rate below target", Row{Key: "b", Value: 50, Baseline: "base", Target: &Target{Cmp: ">=", Value: 0.7}}, 0.5, ptr(false)},
		{"time within bound", Row{Key: "c", Value: 250, Baseline: "base", Target: &Target{Cmp: "<=", Value: 3}}, 2.5, ptr(true)},
		{"absolute bound exceeded", Row{Key: "d", Value: 7, Baseline: "base", Target: &Target{Cmp: "<=", Value: 6, Absolute: true}}, 0.07, ptr(false)},
		{"missing baseline gives no verdict", Row{Key: "e", Value: 7, Baseline: "nope", Target: &Target{Cmp: ">=", Value: 1}}, 0, nil},
		{"failed baseline gives no ratio", Row{Key: "f", Value: 7, Baseline: "broken"}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{Rows: []Row{{Key: "base", Value: 100}, {Key: "broken", Err: "x"}, tc.row}}
			rep.finish()
			got := rep.Rows[2]
			if got.Ratio != tc.wantRatio {
				t.Errorf("ratio = %v, want %v", got.Ratio, tc.wantRatio)
			}
			if (got.Met == nil) != (tc.wantMet == nil) || (got.Met != nil && *got.Met != *tc.wantMet) {
				t.Errorf("met = %v, want %v", fmtBool(got.Met), fmtBool(tc.wantMet))
			}
		})
	}
}

func ptr(b bool) *bool { return &b }

func fmtBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

func TestDiffCounts(t *testing.T) {
	tests := []struct {
		before, after map[string]uint64
		total         int
		detail        string
	}{
		{map[string]uint64{"OPEN": 1}, map[string]uint64{"OPEN": 2, "FLUSH": 2, "RELEASE": 1}, 4, "FLUSH×2 OPEN RELEASE"},
		{map[string]uint64{"OPEN": 3}, map[string]uint64{"OPEN": 3}, 0, ""},
		{map[string]uint64{}, map[string]uint64{"FORGET": 3, "GETATTR": 1}, 1, "GETATTR"},
	}
	for _, tc := range tests {
		total, detail := diffCounts(tc.before, tc.after)
		if total != tc.total || detail != tc.detail {
			t.Errorf("diffCounts(%v, %v) = %d %q, want %d %q", tc.before, tc.after, total, detail, tc.total, tc.detail)
		}
	}
}

func TestHandlerDetail(t *testing.T) {
	save := cfs.Timings{
		"OPEN":    {Requests: 100, Total: 200 * time.Microsecond},
		"WRITE":   {Requests: 100, Total: 150 * time.Microsecond},
		"FLUSH":   {Requests: 100, Total: 28 * time.Millisecond},
		"RELEASE": {Requests: 100, Total: 130 * time.Microsecond},
		"LOOKUP":  {Requests: 2, Total: 96 * time.Microsecond},
		"FORGET":  {Requests: 1, Total: time.Microsecond},
	}
	tests := []struct {
		name string
		t    cfs.Timings
		ops  int
		want string
	}{
		{"a save step", save, 100, "4.0 requests/op, handler time: LOOKUP×0.02 48µs, OPEN 2µs, WRITE 1.5µs, FLUSH 280µs, RELEASE 1.3µs"},
		{"another opcode", cfs.Timings{"FLUSH": {Requests: 3, Total: 3 * time.Millisecond}, "GETXATTR": {Requests: 3, Total: 3 * time.Microsecond}}, 3,
			"2.0 requests/op, handler time: FLUSH 1ms, GETXATTR 1µs"},
		{"nothing measured", save, 0, "no requests"},
		{"no requests", cfs.Timings{}, 10, "no requests"},
	}
	for _, tc := range tests {
		if got := handlerDetail(tc.t, tc.ops); got != tc.want {
			t.Errorf("%s: handlerDetail = %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestCommitDetail(t *testing.T) {
	tests := []struct {
		before, after dbcore.CommitStats
		want          string
	}{
		{dbcore.CommitStats{Commits: 10, Requests: 10}, dbcore.CommitStats{Commits: 20, Requests: 150}, "14.0 saves per commit"},
		{dbcore.CommitStats{}, dbcore.CommitStats{Commits: 3, Requests: 3}, "1.0 saves per commit"},
		{dbcore.CommitStats{Commits: 5, Requests: 9}, dbcore.CommitStats{Commits: 5, Requests: 9}, "no commits"},
	}
	for _, tc := range tests {
		if got := commitDetail(tc.before, tc.after); got != tc.want {
			t.Errorf("commitDetail(%+v, %+v) = %q, want %q", tc.before, tc.after, got, tc.want)
		}
	}
}

func TestSerialBound(t *testing.T) {
	rep := &Report{}
	rep.Add(Row{Key: keyOverwrite, Value: 6000})
	rep.Add(Row{Key: keyLoopSave1, Value: 12000})
	addSerialBound(rep)
	rep.finish()
	row, ok := rep.Row(keySerialBound)
	if !ok || row.Err != "" {
		t.Fatalf("no bound row: %+v", row)
	}
	// 1/(1/6000 + 1/12000) = 4000/s: a third of the floor, target not met.
	if row.Value != 4000 || row.Ratio != 0.333 || row.Met == nil || *row.Met {
		t.Errorf("bound = %v (ratio %v, met %v), want 4000, 0.333, not met", row.Value, row.Ratio, fmtBool(row.Met))
	}
	failed := &Report{}
	failed.Add(Row{Key: keyOverwrite, Err: "disk"})
	failed.Add(Row{Key: keyLoopSave1, Value: 12000})
	addSerialBound(failed)
	if row, _ := failed.Row(keySerialBound); row.Err == "" {
		t.Errorf("bound from a failed floor = %+v, want an error", row)
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{1234567.4, UnitOpsPerSec, "1,234,567"},
		{999, UnitDocsPerSec, "999"},
		{0.01234, UnitSeconds, "0.012"},
		{4, UnitRequests, "4"},
	}
	for _, tc := range tests {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%v, %s) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestPickEnginesRejectsUnknownNames(t *testing.T) {
	table := testEngines()
	if engs, err := pickEngines(table, []string{"pebble"}); err != nil || len(engs) != 1 || engs[0].Name() != "pebble" {
		t.Errorf("pickEngines(pebble) = %v, %v", engs, err)
	}
	if _, err := pickEngines(table, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "couch, pebble") {
		t.Errorf("pickEngines(nope) = %v, want an error naming the known engines", err)
	}
}

func TestCommandRejectsUnknownEngineBeforeMeasuring(t *testing.T) {
	released := false
	table := func() ([]engines.Engine, func()) { return testEngines(), func() { released = true } }
	var out, errOut bytes.Buffer
	app := &cli.App{Name: "couchfs", Writer: &out, ErrWriter: &errOut, ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{Command(table, []string{"couch", "pebble"})}}
	err := app.Run([]string{"couchfs", "bench", "--quick", "--engine", "nope", "--dir", t.TempDir()})
	if !errors.Is(err, ErrBench) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("bench --engine nope = %v, want ErrBench naming the engine", err)
	}
	if !released {
		t.Error("the engine table was not released")
	}
	if out.Len() != 0 || errOut.Len() != 0 {
		t.Errorf("nothing should be measured or printed; stdout %q stderr %q", out.String(), errOut.String())
	}
}

// TestMemoryLeavesOutFreeHeap frees 64 MiB it had written to and finds the
// memory a row reports grown by far less, while the pages stay with the
// process: the figure leaves out garbage without handing memory back to
// the system, which the next step would fault in again.
func TestMemoryLeavesOutFreeHeap(t *testing.T) {
	before := memoryMB()
	if before <= 0 {
		t.Fatalf("memory %v MiB", before)
	}
	garbage := make([]byte, 64<<20)
	for i := 0; i < len(garbage); i += 4096 {
		garbage[i] = 1
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	after := memoryMB()
	if after-before > 16 {
		t.Errorf("memory went from %.1f to %.1f MiB with 64 MiB freed", before, after)
	}
	if rss := rssMB(); rss < after {
		t.Errorf("resident set %.1f MiB below the memory reported, %.1f", rss, after)
	}
}
