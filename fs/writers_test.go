package fs_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestTwoWriters: two processes write one document; the first close wins,
// the second gets ESTALE and its bytes are kept in .rejected/.
func TestTwoWriters(t *testing.T) {
	need(t, "python3")
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	file := e.p("db", "doc.json")
	sh(t, `echo '{"v":0}' > `+file)
	// Writer A opens and writes, then waits for B to write before closing;
	// B closes after A. Both base on revision 1.
	script := `
import os, sys, time, errno
path, role, flag = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
os.write(fd, ('{"v":"%s"}' % role).encode())
open(flag + "." + role, "w").close()
other = "B" if role == "A" else "A"
while not os.path.exists(flag + "." + other):
    time.sleep(0.01)
if role == "B":
    while not os.path.exists(flag + ".A.closed"):
        time.sleep(0.01)
try:
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
open(flag + "." + role + ".closed", "w").close()
`
	flag := t.TempDir() + "/flag"
	resA, resB := make(chan result, 1), make(chan result, 1)
	go func() { resA <- run(t, "python3", "-c", script, file, "A", flag) }()
	go func() { resB <- run(t, "python3", "-c", script, file, "B", flag) }()
	a, b := <-resA, <-resB
	if a.err != nil || b.err != nil {
		t.Fatalf("writers failed: A %v %s | B %v %s", a.err, a.stderr, b.err, b.stderr)
	}
	if strings.TrimSpace(a.stdout) != "ok" || strings.TrimSpace(b.stdout) != "ESTALE" {
		t.Fatalf("A closed with %q, B with %q; want ok and ESTALE", a.stdout, b.stdout)
	}
	got := e.get("db", "doc")
	if body(t, got)["v"] != "A" || revPos(t, got.Rev) != 2 {
		t.Errorf("doc = %s %s, want A's save as rev 2", got.Rev, got.Body)
	}
	rejected := readDirNames(t, e.p("db", ".rejected"))
	if len(rejected) != 1 || !strings.HasPrefix(rejected[0], "doc.json.") {
		t.Fatalf(".rejected = %v", rejected)
	}
	if kept, _ := os.ReadFile(e.p("db", ".rejected", rejected[0])); string(kept) != `{"v":"B"}` {
		t.Errorf("kept bytes %q", kept)
	}
}

// TestOutsideWrites: a write through dbcore (another path) is visible to the
// next read through the mount, and to stat shortly after.
func TestOutsideWrites(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	file := e.p("db", "doc.json")
	sh(t, `echo '{"v":1}' > `+file)
	if out := sh(t, "cat "+file); !strings.Contains(out, `"v": 1`) {
		t.Fatalf("cat = %s", out)
	}
	db := e.db("db")
	cur := e.get("db", "doc")
	res, err := db.SaveJSON("doc", []byte(`{"v":2,"padding":"makes the size change"}`), cur.Rev)
	if err != nil {
		t.Fatal(err)
	}
	if out := sh(t, "cat "+file); !strings.Contains(out, `"v": 2`) || !strings.Contains(out, res.Rev) {
		t.Errorf("cat after an outside write = %s", out)
	}
	// stat without opening: the invalidator pushes the change.
	want := int64(len(res.Doc.JSON()))
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.Stat(file)
		if err == nil && st.Size() == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stat size %v (%v), want %d", st.Size(), err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A new document appears, a deleted one disappears.
	if _, err := db.SaveJSON("other", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if out := sh(t, "cat "+e.p("db", "other.json")); !strings.Contains(out, `"_id": "other"`) {
		t.Errorf("new doc: %s", out)
	}
	if _, err := db.DeleteDoc("doc", ""); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "cat", file); r.err == nil {
		t.Errorf("cat of a document deleted elsewhere succeeded: %s", r.stdout)
	}
}

// TestCrossDatabaseMove: rename(2) across databases is EXDEV, and mv's
// copy+unlink fallback moves the document.
func TestCrossDatabaseMove(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("a")
	e.mkdb("b")
	sh(t, `echo '{"x":1}' > `+e.p("a", "doc.json"))
	if err := os.Rename(e.p("a", "doc.json"), e.p("b", "doc.json")); errnoOf(err) != syscall.EXDEV {
		t.Fatalf("rename across databases: %v, want EXDEV", err)
	}
	sh(t, "mv "+e.p("a", "doc.json")+" "+e.p("b", "doc.json"))
	if _, err := e.db("a").Get("doc"); err == nil {
		t.Error("doc still in a")
	}
	got := e.get("b", "doc")
	if body(t, got)["x"] != 1.0 || revPos(t, got.Rev) != 1 {
		t.Errorf("b/doc = %s %s", got.Rev, got.Body)
	}
}

// TestReadOnly: a read-only mount serves reads and refuses writes.
func TestReadOnly(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	sh(t, `echo '{"x":1}' > `+e.p("db", "doc.json"))
	e.unmount()
	e.mount(couchfs.Options{ReadOnly: true})
	if out := sh(t, "cat "+e.p("db", "doc.json")); !strings.Contains(out, `"x": 1`) {
		t.Errorf("cat = %s", out)
	}
	if err := writeFile(e.p("db", "doc.json"), []byte(`{}`)); errnoOf(err) != syscall.EROFS {
		t.Errorf("write: %v, want EROFS", err)
	}
	if err := os.Mkdir(e.p("new"), 0o755); errnoOf(err) != syscall.EROFS {
		t.Errorf("mkdir: %v, want EROFS", err)
	}
	if err := os.Remove(e.p("db", "doc.json")); errnoOf(err) != syscall.EROFS {
		t.Errorf("rm: %v, want EROFS", err)
	}
}
