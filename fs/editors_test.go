package fs_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestEditorSaves checks that each way editors and tools save a file makes
// exactly one new revision, with no tombstone in between and no scratch
// file left behind.
func TestEditorSaves(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	d := e.p("db")
	// vim skips its backup for files under /tmp ('backupskip'), where test
	// directories live; clearing it makes vim save as it does anywhere else.
	vim := func(t *testing.T, file, backupcopy string, cmds ...string) {
		t.Helper()
		args := []string{"-es", "-u", "NONE", "-i", "NONE", "-c", "set backupskip= writebackup backupcopy=" + backupcopy}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		must(t, "vim", append(args, file)...)
	}
	tools := []struct {
		name  string
		progs []string
		save  func(t *testing.T, file string)
	}{
		{"vim backupcopy=yes", []string{"vim"}, func(t *testing.T, file string) {
			vim(t, file, "yes", "%s/Blue/Red/", "wq")
		}},
		{"vim backupcopy=no", []string{"vim"}, func(t *testing.T, file string) {
			before := strings.Count(e.log.String(), "msg=detached")
			vim(t, file, "no", "%s/Blue/Red/", "wq")
			if strings.Count(e.log.String(), "msg=detached") == before {
				t.Error("vim did not save by renaming the file to its backup")
			}
		}},
		{"vim backupcopy=auto", []string{"vim"}, func(t *testing.T, file string) {
			vim(t, file, "auto", "%s/Blue/Red/", "wq")
		}},
		{"sed -i", []string{"sed"}, func(t *testing.T, file string) {
			must(t, "sed", "-i", "s/Blue/Red/", file)
		}},
		{"python write in place", []string{"python3"}, func(t *testing.T, file string) {
			must(t, "python3", "-c", `
import json, sys
p = sys.argv[1]
with open(p) as f:
    d = json.load(f)
d["title"] = "Red"
with open(p, "w") as f:
    json.dump(d, f)
`, file)
		}},
		{"python os.replace", []string{"python3"}, func(t *testing.T, file string) {
			must(t, "python3", "-c", `
import json, os, sys
p = sys.argv[1]
with open(p) as f:
    d = json.load(f)
d["title"] = "Red"
tmp = os.path.join(os.path.dirname(p), ".tmp-" + os.path.basename(p))
with open(tmp, "w") as f:
    json.dump(d, f)
os.replace(tmp, p)
`, file)
		}},
		{"jq and mv", []string{"jq"}, func(t *testing.T, file string) {
			sh(t, `jq '.title = "Red"' `+file+` > `+file+`.tmp && mv `+file+`.tmp `+file)
		}},
		{"shell redirect without _rev", nil, func(t *testing.T, file string) {
			sh(t, `echo '{"title":"Red","year":1971}' > `+file)
		}},
	}
	for i, tool := range tools {
		t.Run(tool.name, func(t *testing.T) {
			for _, p := range tool.progs {
				need(t, p)
			}
			id := "album" + itoa(i)
			file := d + "/" + id + ".json"
			sh(t, `echo '{"title":"Blue","year":1971}' > `+file)
			sh(t, "cat "+file+" >/dev/null")
			before := e.get("db", id)
			tool.save(t, file)
			after := e.get("db", id)
			if revPos(t, after.Rev) != revPos(t, before.Rev)+1 {
				t.Errorf("rev %s → %s: want exactly one new revision", before.Rev, after.Rev)
			}
			if got := body(t, after)["title"]; got != "Red" {
				t.Errorf("title = %v after save", got)
			}
			if got := body(t, after)["year"]; got != 1971.0 {
				t.Errorf("year = %v after save", got)
			}
			if out := sh(t, "cat "+file); !strings.Contains(out, `"Red"`) || !strings.Contains(out, after.Rev) {
				t.Errorf("cat after save shows stale content:\n%s", out)
			}
			assertOnlyDocs(t, d)
		})
	}
	t.Run("second vim save in one session", func(t *testing.T) {
		need(t, "vim")
		file := d + "/twice.json"
		sh(t, `echo '{"title":"Blue"}' > `+file)
		for _, bc := range []string{"no", "yes"} {
			before := revPos(t, e.get("db", "twice").Rev)
			vim(t, file, bc, "%s/Blue/Red/", "w", "%s/Red/Green/", "wq")
			got := e.get("db", "twice")
			if revPos(t, got.Rev) != before+2 || body(t, got)["title"] != "Green" {
				t.Errorf("backupcopy=%s: after two saves from rev %d: %s %s", bc, before, got.Rev, got.Body)
			}
			sh(t, `echo '{"title":"Blue"}' > `+file)
		}
		assertOnlyDocs(t, d)
	})
}

// assertOnlyDocs fails if anything but documents and fixed entries is in d.
func assertOnlyDocs(t *testing.T, d string) {
	t.Helper()
	ents, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".json") || strings.HasPrefix(n, "_") || n == ".rejected" {
			continue
		}
		extra = append(extra, n)
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("scratch files left behind: %v", extra)
	}
}

// TestScratchFiles checks the in-memory namespace editors use.
func TestScratchFiles(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	d := e.p("db")
	for _, name := range []string{".a.json.swp", "a.json~", "4913", "sedXyZ123", "#a.json#"} {
		if err := os.WriteFile(d+"/"+name, []byte("not json "+name), 0o600); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
		got, err := os.ReadFile(d + "/" + name)
		if err != nil || string(got) != "not json "+name {
			t.Errorf("read %s = %q, %v", name, got, err)
		}
	}
	if err := os.Symlink("host:1234", d+"/.#a.json"); err != nil {
		t.Errorf("emacs lock symlink: %v", err)
	} else if target, err := os.Readlink(d + "/.#a.json"); err != nil || target != "host:1234" {
		t.Errorf("readlink = %q, %v", target, err)
	}
	ls := sh(t, "ls -A "+d)
	for _, name := range []string{".a.json.swp", "a.json~", "4913", "sedXyZ123", "#a.json#", ".#a.json"} {
		if !strings.Contains(ls, name) {
			t.Errorf("ls -A lacks %s: %q", name, ls)
		}
	}
	info, err := e.db("db").Info()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(info.JSON()), `"doc_count": 1`) {
		t.Errorf("a scratch file became a document: %s", info.JSON())
	}
	sh(t, "rm "+d+"/4913 "+d+"/a.json~")
	if ls := sh(t, "ls -A "+d); strings.Contains(ls, "4913") {
		t.Errorf("rm of a scratch file: %q", ls)
	}
}

// TestDesignAndLocal checks the _design/ and _local/ directories.
func TestDesignAndLocal(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	sh(t, `echo '{"views":{"all":{"map":"function(d){emit(d._id)}"}}}' > `+e.p("db", "_design", "app.json"))
	sh(t, `echo '{"checkpoint":7}' > `+e.p("db", "_local", "repl.json"))
	if got := e.get("db", "_design/app"); !strings.Contains(string(got.Body), "views") {
		t.Errorf("design doc body %s", got.Body)
	}
	if got := e.get("db", "_local/repl"); !strings.Contains(string(got.Body), "checkpoint") {
		t.Errorf("local doc body %s", got.Body)
	}
	if ls := sh(t, "ls "+e.p("db")); strings.Contains(ls, "app") || strings.Contains(ls, "repl") {
		t.Errorf("design or local doc listed at the top: %q", ls)
	}
	if ls := sh(t, "ls "+e.p("db", "_design")); strings.TrimSpace(ls) != "app.json" {
		t.Errorf("ls _design = %q", ls)
	}
	if ls := sh(t, "ls "+e.p("db", "_local")); strings.TrimSpace(ls) != "repl.json" {
		t.Errorf("ls _local = %q", ls)
	}
	changes := sh(t, "ls "+e.p("db", "_changes"))
	if !strings.Contains(changes, "-_design%2Fapp.json") || strings.Contains(changes, "repl") {
		t.Errorf("ls _changes = %q: want the design doc and not the local one", changes)
	}
	sh(t, `echo '{"checkpoint":8}' > `+e.p("db", "_local", "repl.json"))
	if out := sh(t, "cat "+e.p("db", "_local", "repl.json")); !strings.Contains(out, `"checkpoint": 8`) {
		t.Errorf("local doc after update: %s", out)
	}
	sh(t, "rm "+e.p("db", "_local", "repl.json"))
	if _, err := e.db("db").Get("_local/repl"); err == nil {
		t.Error("local doc not deleted")
	}
}
