package fs_test

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestTour walks design.md §1 through the mount with the shell.
func TestTour(t *testing.T) {
	need(t, "vim")
	e := mountT(t, couchfs.Options{})
	albums := e.p("albums")
	sh(t, "mkdir "+albums)
	sh(t, `echo '{"title":"Blue","year":1971}' > `+albums+`/blue.json`)
	out := sh(t, "cat "+albums+"/blue.json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("cat: %v\n%s", err, out)
	}
	if doc["_id"] != "blue" || doc["title"] != "Blue" || !strings.HasPrefix(doc["_rev"].(string), "1-") {
		t.Fatalf("cat = %s", out)
	}
	if !strings.HasPrefix(out, "{\n  \"_id\": \"blue\",\n  \"_rev\": \"1-") || !strings.HasSuffix(out, "}\n") {
		t.Errorf("rendering is not _id, _rev first, 2-space indented with a newline:\n%s", out)
	}
	if ls := sh(t, "ls "+albums+"/_changes"); !strings.HasSuffix(strings.TrimSpace(ls), "-blue.json") {
		t.Errorf("ls _changes = %q", ls)
	}
	must(t, "vim", "-es", "-u", "NONE", "-i", "NONE", "-c", "%s/Blue/Red/", "-c", "wq", albums+"/blue.json")
	got := e.get("albums", "blue")
	if revPos(t, got.Rev) != 2 || body(t, got)["title"] != "Red" {
		t.Errorf("after vim: rev %s body %s", got.Rev, got.Body)
	}
	sh(t, "rm "+albums+"/blue.json")
	if _, err := e.db("albums").Get("blue"); err == nil {
		t.Error("blue still there after rm")
	}
	if ls := sh(t, "ls -A "+albums); strings.Contains(ls, "blue") {
		t.Errorf("ls after rm: %q", ls)
	}
	if rows := sh(t, "ls "+albums+"/_changes"); !strings.Contains(rows, "-blue.json") {
		t.Errorf("the tombstone should stay in _changes: %q", rows)
	}
}

// TestShellTools drives the everyday tools over documents.
func TestShellTools(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	d := e.p("db")
	sh(t, `printf '{"a":1}' > `+d+`/one.json`)

	// ls -l reports exactly the rendered size.
	doc := e.get("db", "one")
	st, err := os.Stat(d + "/one.json")
	if err != nil || st.Size() != int64(len(doc.JSON())) {
		t.Fatalf("stat size %v (%v), rendering is %d bytes", st, err, len(doc.JSON()))
	}
	if ls := sh(t, "ls -l "+d+"/one.json"); !strings.Contains(ls, " "+itoa(len(doc.JSON()))+" ") {
		t.Errorf("ls -l: %q, want size %d", ls, len(doc.JSON()))
	}

	t.Run("cp to a new name copies the document", func(t *testing.T) {
		sh(t, "cp "+d+"/one.json "+d+"/two.json")
		two := e.get("db", "two")
		if body(t, two)["a"] != 1.0 || revPos(t, two.Rev) != 1 {
			t.Errorf("two = %s %s", two.Rev, two.Body)
		}
	})
	t.Run("mv renames", func(t *testing.T) {
		sh(t, "mv "+d+"/two.json "+d+"/three.json")
		if _, err := e.db("db").Get("two"); err == nil {
			t.Error("two still exists")
		}
		if body(t, e.get("db", "three"))["a"] != 1.0 {
			t.Error("three lacks the body")
		}
		out := sh(t, "cat "+d+"/three.json")
		if !strings.Contains(out, `"_id": "three"`) {
			t.Errorf("cat after mv: %s", out)
		}
	})
	t.Run("mv over an existing document replaces it", func(t *testing.T) {
		sh(t, `printf '{"b":2}' > `+d+`/four.json`)
		sh(t, "mv "+d+"/four.json "+d+"/three.json")
		three := e.get("db", "three")
		if body(t, three)["b"] != 2.0 {
			t.Errorf("three = %s", three.Body)
		}
		if _, err := e.db("db").Get("four"); err == nil {
			t.Error("four still exists")
		}
	})
	t.Run("touch leaves documents alone", func(t *testing.T) {
		before := e.get("db", "one").Rev
		sh(t, "touch "+d+"/one.json")
		if after := e.get("db", "one").Rev; after != before {
			t.Errorf("touch changed rev %s → %s", before, after)
		}
	})
	t.Run("touch of a new name stores nothing until written", func(t *testing.T) {
		sh(t, "touch "+d+"/new.json")
		if _, err := os.Stat(d + "/new.json"); err != nil {
			t.Errorf("stat new.json: %v", err)
		}
		if _, err := e.db("db").Get("new"); err == nil {
			t.Error("an empty file became a document")
		}
		sh(t, `echo '{"n":1}' > `+d+`/new.json`)
		if body(t, e.get("db", "new"))["n"] != 1.0 {
			t.Error("new.json not saved")
		}
	})
	t.Run("truncate then write updates", func(t *testing.T) {
		f, err := os.OpenFile(d+"/one.json", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte(`{"a":2}`), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if got := e.get("db", "one"); body(t, got)["a"] != 2.0 || revPos(t, got.Rev) != 2 {
			t.Errorf("one = %s %s", got.Rev, got.Body)
		}
	})
	t.Run("emptying a document is refused and parked", func(t *testing.T) {
		before := e.get("db", "one").Rev
		parked := len(readDirNames(t, d+"/.rejected"))
		sh(t, "truncate -s 0 "+d+"/one.json; : > "+d+"/one.json")
		if after := e.get("db", "one").Rev; after != before {
			t.Errorf("rev %s → %s", before, after)
		}
		// The release that saves (and refuses) an empty draft is
		// asynchronous: wait for both rejections.
		deadline := time.Now().Add(5 * time.Second)
		for len(readDirNames(t, d+"/.rejected")) < parked+2 {
			if time.Now().After(deadline) {
				t.Fatalf(".rejected = %v, want 2 more than %d", readDirNames(t, d+"/.rejected"), parked)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("cp of another document onto an existing one is EINVAL", func(t *testing.T) {
		sh(t, `echo '{"x":1}' > `+d+`/other.json`)
		if r := run(t, "cp", d+"/other.json", d+"/one.json"); r.err == nil || !strings.Contains(r.stderr, "Invalid argument") {
			t.Errorf("cp: %v %q", r.err, r.stderr)
		}
	})
	t.Run("writing _deleted deletes", func(t *testing.T) {
		sh(t, `echo '{"d":1}' > `+d+`/del.json`)
		sh(t, "cat "+d+"/del.json >/dev/null")
		sh(t, `echo '{"_deleted":true}' > `+d+`/del.json`)
		if _, err := e.db("db").Get("del"); err == nil {
			t.Error("del not deleted")
		}
		if r := run(t, "cat", d+"/del.json"); r.err == nil {
			t.Errorf("cat of a deleted document: %q", r.stdout)
		}
		if ls := sh(t, "ls "+d); strings.Contains(ls, "del.json") {
			t.Errorf("ls after delete: %q", ls)
		}
	})
	t.Run("cat of a missing file", func(t *testing.T) {
		if r := run(t, "cat", d+"/missing.json"); r.err == nil || !strings.Contains(r.stderr, "No such file") {
			t.Errorf("cat missing: %v %q", r.err, r.stderr)
		}
	})
	t.Run("rm deletes", func(t *testing.T) {
		sh(t, "rm "+d+"/three.json")
		if _, err := e.db("db").Get("three"); err == nil {
			t.Error("three not deleted")
		}
	})
}

// TestBadJSON checks a rejected save: EINVAL from close, the document
// unchanged, the bytes kept in .rejected/.
func TestBadJSON(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	d := e.p("db")
	sh(t, `echo '{"ok":true}' > `+d+`/doc.json`)
	before := e.get("db", "doc")

	tests := []struct {
		name, data string
		want       syscall.Errno
	}{
		{"not JSON", "not json\n", syscall.EINVAL},
		{"not an object", "[1,2,3]\n", syscall.EINVAL},
		{"wrong _id", `{"_id":"other","x":1}`, syscall.EINVAL},
		{"stale _rev", `{"_rev":"1-00000000000000000000000000000000","x":1}`, syscall.ESTALE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := writeFile(d+"/doc.json", []byte(tt.data))
			if errnoOf(err) != tt.want {
				t.Fatalf("close error = %v, want %v", err, tt.want)
			}
			if got := e.get("db", "doc"); got.Rev != before.Rev {
				t.Errorf("document changed: %s → %s", before.Rev, got.Rev)
			}
			out := sh(t, "cat "+d+"/doc.json")
			if !strings.Contains(out, `"ok": true`) {
				t.Errorf("cat after rejection: %s", out)
			}
		})
	}
	rejected := readDirNames(t, d+"/.rejected")
	if len(rejected) != len(tests) {
		t.Fatalf(".rejected = %v, want %d entries", rejected, len(tests))
	}
	kept, err := os.ReadFile(d + "/.rejected/" + rejected[0])
	if err != nil || string(kept) != tests[0].data {
		t.Errorf(".rejected/%s = %q, %v; want %q", rejected[0], kept, err, tests[0].data)
	}
	if !strings.Contains(e.log.String(), "save rejected") {
		t.Error("rejection not logged")
	}
	// cp reports the failure too (it checks close).
	os.WriteFile(os.TempDir()+"/couchfs-bad.json", []byte("{"), 0o644)
	if r := run(t, "cp", os.TempDir()+"/couchfs-bad.json", d+"/doc.json"); r.err == nil {
		t.Error("cp of bad JSON succeeded")
	}
}

// TestDatabases covers mkdir/rmdir at the top.
func TestDatabases(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	tests := []struct {
		name string
		want syscall.Errno
	}{
		{"good", 0},
		{"good", syscall.EEXIST},
		{"Bad", syscall.EINVAL},
		{"9lives", syscall.EINVAL},
		{"mem1.mem", 0},
		{"x.nosuchengine", syscall.EINVAL},
	}
	for _, tt := range tests {
		if err := os.Mkdir(e.p(tt.name), 0o755); errnoOf(err) != tt.want {
			t.Errorf("mkdir %s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if got := strings.Fields(sh(t, "ls "+e.mnt)); strings.Join(got, " ") != "good mem1" {
		t.Errorf("ls = %v", got)
	}
	if engine, err := e.srv.EngineOf("mem1"); err != nil || engine != "mem" {
		t.Errorf("engine of mem1 = %q, %v", engine, err)
	}
	sh(t, `echo '{}' > `+e.p("good", "x.json"))
	if err := os.Remove(e.p("good")); errnoOf(err) != syscall.ENOTEMPTY {
		t.Errorf("rmdir of a database with documents: %v", err)
	}
	sh(t, "rm "+e.p("good", "x.json"))
	if err := os.Remove(e.p("good")); err != nil {
		t.Errorf("rmdir of an emptied database: %v", err)
	}
	if ok, _ := e.srv.Exists("good"); ok {
		t.Error("database still exists")
	}
}

// TestRemount checks that everything is there after unmount and mount.
func TestRemount(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	sh(t, `for i in 1 2 3; do echo "{\"i\":$i}" > `+e.p("db")+`/d$i.json; done`)
	sh(t, `echo '{"views":{}}' > `+e.p("db", "_design", "v.json"))
	sh(t, `echo '{"l":1}' > `+e.p("db", "_local", "l.json"))
	sh(t, `echo 'scratch' > `+e.p("db", ".d1.json.swp"))
	sh(t, `echo '{"admins":{"names":["ann"]}}' > `+e.p("db", "_security"))
	sh(t, `echo 7 > `+e.p("db", "_revs_limit"))
	e.unmount()
	e.mount(couchfs.Options{})
	if got := sh(t, "cat "+e.p("db", "_security")); !strings.Contains(got, "ann") {
		t.Errorf("_security after remount: %s", got)
	}
	if got := sh(t, "cat "+e.p("db", "_revs_limit")); got != "7\n" {
		t.Errorf("_revs_limit after remount: %q", got)
	}
	if got := sh(t, "cat "+e.p("db", "d2.json")); !strings.Contains(got, `"i": 2`) {
		t.Errorf("d2 after remount: %s", got)
	}
	if got := sh(t, "ls "+e.p("db")); strings.Join(strings.Fields(got), " ") != "_changes _compact _design _info _local _purge _revs_limit _security d1.json d2.json d3.json" {
		t.Errorf("ls after remount = %q", got)
	}
	if got := sh(t, "cat "+e.p("db", "_design", "v.json")); !strings.Contains(got, `"_id": "_design/v"`) {
		t.Errorf("design doc: %s", got)
	}
	if got := sh(t, "cat "+e.p("db", "_local", "l.json")); !strings.Contains(got, `"l": 1`) {
		t.Errorf("local doc: %s", got)
	}
	if _, err := os.Stat(e.p("db", ".d1.json.swp")); err == nil {
		t.Error("a scratch file survived the unmount")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
