package fs_test

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	couchfs "github.com/couchfs/couchfs/fs"
)

// TestSpecialFiles covers _security, _revs_limit, _info, _compact, _purge
// and the read-only _changes entries.
func TestSpecialFiles(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	d := e.p("db")
	sh(t, `echo '{"a":1}' > `+d+`/doc.json`)

	t.Run("_security", func(t *testing.T) {
		if got := strings.TrimSpace(sh(t, "cat "+d+"/_security")); got != "{}" {
			t.Errorf("default _security = %q", got)
		}
		sh(t, `echo '{"admins":{"names":["ann"],"roles":[]}}' > `+d+`/_security`)
		if got := sh(t, "cat "+d+"/_security"); !strings.Contains(got, "ann") {
			t.Errorf("_security = %q", got)
		}
		if err := writeFile(d+"/_security", []byte("[1]")); errnoOf(err) != syscall.EINVAL {
			t.Errorf("bad _security: %v, want EINVAL", err)
		}
	})
	t.Run("_revs_limit", func(t *testing.T) {
		if got := sh(t, "cat "+d+"/_revs_limit"); got != "1000\n" {
			t.Errorf("default _revs_limit = %q", got)
		}
		sh(t, "echo 5 > "+d+"/_revs_limit")
		if got := sh(t, "cat "+d+"/_revs_limit"); got != "5\n" {
			t.Errorf("_revs_limit = %q", got)
		}
		if db := e.db("db"); db.RevsLimit() != 5 {
			t.Errorf("RevsLimit = %d", db.RevsLimit())
		}
		if err := writeFile(d+"/_revs_limit", []byte("zero\n")); errnoOf(err) != syscall.EINVAL {
			t.Errorf("bad _revs_limit: %v, want EINVAL", err)
		}
	})
	t.Run("_info", func(t *testing.T) {
		out := sh(t, "cat "+d+"/_info")
		var info map[string]any
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("_info is not JSON: %v\n%s", err, out)
		}
		st, err := os.Stat(d + "/_info")
		if err != nil || st.Size() != int64(len(out)) {
			t.Errorf("_info size %v (%v), content %d bytes", st.Size(), err, len(out))
		}
		if err := writeFile(d+"/_info", []byte("{}")); errnoOf(err) != syscall.EACCES {
			t.Errorf("write _info: %v, want EACCES", err)
		}
	})
	t.Run("_compact", func(t *testing.T) {
		sh(t, "echo 1 > "+d+"/_compact")
		if out := sh(t, "cat "+d+"/doc.json"); !strings.Contains(out, `"a": 1`) {
			t.Errorf("doc after compaction: %s", out)
		}
	})
	t.Run("_purge", func(t *testing.T) {
		sh(t, `echo '{"gone":1}' > `+d+`/gone.json`)
		rev := e.get("db", "gone").Rev
		sh(t, `echo '{"gone":["`+rev+`"]}' > `+d+`/_purge`)
		out := sh(t, "cat "+d+"/_purge")
		if !strings.Contains(out, rev) || !strings.Contains(out, "purge_seq") {
			t.Errorf("_purge result %q", out)
		}
		if _, err := e.db("db").Get("gone"); err == nil {
			t.Error("purged document still there")
		}
	})
	t.Run("_changes is read-only", func(t *testing.T) {
		entries := readDirNames(t, d+"/_changes")
		if len(entries) == 0 {
			t.Fatal("no changes")
		}
		if err := writeFile(d+"/_changes/"+entries[0], []byte("{}")); errnoOf(err) != syscall.EACCES {
			t.Errorf("write into _changes: %v", err)
		}
		if err := os.Remove(d + "/_changes/" + entries[0]); errnoOf(err) != syscall.EACCES {
			t.Errorf("rm in _changes: %v", err)
		}
		if err := writeFile(d+"/_changes/new.json", []byte("{}")); errnoOf(err) != syscall.EACCES {
			t.Errorf("create in _changes: %v", err)
		}
	})
	t.Run("no directories inside a database", func(t *testing.T) {
		if err := os.Mkdir(d+"/sub", 0o755); errnoOf(err) != syscall.EPERM {
			t.Errorf("mkdir in a database: %v, want EPERM", err)
		}
	})
}

// TestConflicts: a conflicted document shows <id>.conflicts/ with the losing
// revisions; removing one deletes that leaf.
func TestConflicts(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	d := e.p("db")
	sh(t, `echo '{"side":"ours"}' > `+d+`/c.json`)
	db := e.db("db")
	theirs := strings.Repeat("f", 32)
	res, err := db.UpdateDocs([]*dbcore.Doc{{ID: "c", Rev: "1-" + theirs, Revisions: []string{theirs}, Body: []byte(`{"side":"theirs"}`)}},
		dbcore.UpdateOptions{Replicated: true})
	if err != nil || res[0].Err != nil {
		t.Fatalf("replicated write: %v %v", err, res)
	}
	doc := e.get("db", "c")
	if len(doc.Conflicts) != 1 {
		t.Fatalf("conflicts = %v", doc.Conflicts)
	}
	loser := doc.Conflicts[0]
	names := readDirNames(t, d+"/c.conflicts")
	if len(names) != 1 || names[0] != loser+".json" {
		t.Fatalf("c.conflicts/ = %v, want %s.json", names, loser)
	}
	out := sh(t, "cat "+d+"/c.conflicts/"+loser+".json")
	if !strings.Contains(out, loser) {
		t.Errorf("conflict file %s", out)
	}
	sh(t, "rm "+d+"/c.conflicts/"+loser+".json")
	if doc := e.get("db", "c"); len(doc.Conflicts) != 0 {
		t.Errorf("conflicts after rm = %v", doc.Conflicts)
	}
	if _, err := os.Stat(d + "/c.conflicts"); err == nil {
		t.Error("c.conflicts/ still there without conflicts")
	}
}
