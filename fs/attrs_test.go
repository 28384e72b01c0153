package fs_test

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestSizeAfterSave: once close() returns from a save, stat reports the
// stored rendering's size at once, whether the kernel's size is the one the
// writer's write() calls gave it or the old revision's it cached while the
// save was being written (an fstat between write and close), and with
// attribute timeouts far longer than the test. A save the database refuses leaves the size of the revision still
// stored once the writer's file is released, although the writer's
// O_TRUNC and write moved the kernel's size.
func TestSizeAfterSave(t *testing.T) {
	for _, sole := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared server", true: "sole writer"}[sole], func(t *testing.T) {
			testSizeAfterSave(t, couchfs.Options{EntryTimeout: time.Minute, AttrTimeout: time.Minute, SoleWriter: sole})
		})
	}
}

func testSizeAfterSave(t *testing.T, opts couchfs.Options) {
	e := mountT(t, opts)
	e.mkdb("db")
	file := e.p("db", "doc.json")
	sh(t, `echo '{"v":1}' > `+file)
	sh(t, "cat "+file+" >/dev/null")

	tests := []struct {
		name    string
		data    string
		fstat   bool // ask for the attributes between write and close
		wantErr syscall.Errno
	}{
		{name: "saved", data: `{"v":2,"padding":"makes the rendering longer than before"}`},
		{name: "saved shorter", data: `{"v":3}`},
		{name: "saved after fstat", data: `{"v":4,"padding":"makes the rendering longer than before"}`, fstat: true},
		{name: "saved shorter after fstat", data: `{"v":5}`, fstat: true},
		{name: "refused", data: `{"v":`, wantErr: syscall.EINVAL},
		{name: "refused after fstat", data: `{"v":`, fstat: true, wantErr: syscall.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			// The kernel asks for the attributes mid-write and may keep the
			// answer (the stored revision's) for the whole timeout.
			if tt.fstat {
				if _, err := f.Stat(); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); errnoOf(err) != tt.wantErr {
				t.Fatalf("close: %v, want errno %v", err, tt.wantErr)
			}
			if tt.wantErr != 0 {
				// The writer's RELEASE, which restores the size, is
				// asynchronous: wait for it.
				settle(t, e)
			}
			want := int64(len(e.get("db", "doc").JSON()))
			st, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != want {
				t.Errorf("stat size %d right after close, want the stored rendering's %d", st.Size(), want)
			}
		})
	}
}

// TestHandlerTimings: Handle.Timings times exactly the requests Stats
// counts, and a save's time is in its FLUSH.
func TestHandlerTimings(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	file := e.p("db", "doc.json")
	sh(t, `echo '{"v":1}' > `+file)
	settle(t, e)
	counts, times := e.h.Stats(), e.h.Timings()
	sh(t, `echo '{"v":2}' > `+file)
	settle(t, e)
	dc, dt := e.h.Stats().Sub(counts), e.h.Timings().Sub(times)
	if len(dc) != len(dt) {
		t.Errorf("timed opcodes %v, counted %v", dt, dc)
	}
	for op, n := range dc {
		if dt[op].Requests != n {
			t.Errorf("%s: %d timed, %d counted", op, dt[op].Requests, n)
		}
	}
	flush := dt["FLUSH"]
	if flush.Requests == 0 || flush.Total <= 0 || flush.Mean() <= 0 {
		t.Errorf("FLUSH timing %+v: the save took no time", flush)
	}
	if s := dt.String(); !strings.Contains(s, "FLUSH=") || !strings.HasPrefix(s, "{") {
		t.Errorf("String() = %s", s)
	}
	if (couchfs.OpTiming{}).Mean() != 0 {
		t.Error("the mean of no requests must be 0")
	}
}

// TestServeProcs: SetServeProcs sets GOMAXPROCS to ServeProcs unless the
// environment chose it, and its restore func restores it, once.
func TestServeProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Setenv("GOMAXPROCS", "")
	restore := couchfs.SetServeProcs()
	if got := runtime.GOMAXPROCS(0); got != couchfs.ServeProcs() {
		t.Errorf("GOMAXPROCS = %d after SetServeProcs, want %d", got, couchfs.ServeProcs())
	}
	restore()
	runtime.GOMAXPROCS(prev + 1)
	restore() // a second call must not undo the change just made
	if got := runtime.GOMAXPROCS(prev); got != prev+1 {
		t.Errorf("a second restore set GOMAXPROCS to %d", got)
	}
	t.Setenv("GOMAXPROCS", strconv.Itoa(prev))
	restore = couchfs.SetServeProcs()
	defer restore()
	if got := runtime.GOMAXPROCS(0); got != prev {
		t.Errorf("GOMAXPROCS = %d with GOMAXPROCS=%d in the environment", got, prev)
	}
}
