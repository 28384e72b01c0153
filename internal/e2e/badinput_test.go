package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
)

// badOp is how a bad-input case reaches the mount.
type badOp int

const (
	// opSave writes data to path like `cat > path`: open(O_WRONLY|O_CREAT|
	// O_TRUNC), write, close. The case fails at whichever step returns the
	// error first.
	opSave badOp = iota
	// opMkdir creates the directory path.
	opMkdir
	// opCreate only creates path (O_CREAT|O_EXCL), as `touch` would.
	opCreate
	// opOpenWrite opens an existing path for writing without truncating.
	opOpenWrite
	// opUnlink removes path.
	opUnlink
	// opRename renames victim.json to path.
	opRename
)

// badCase is one malformed or forbidden request. path is relative to the
// database directory (database names start with "../") and want is the
// errno docs/semantics.md §12 documents for it.
type badCase struct {
	name string
	op   badOp
	path string
	data []byte
	want syscall.Errno
	// gone lists paths (relative like path) that must not exist afterwards:
	// lstat fails with ENOENT, or with ENAMETOOLONG and no listing of the
	// directory shows the name.
	gone []string
	// notStored names a document id that dbcore must not hold afterwards.
	notStored string
	// pending names a document whose create was refused: its name stays
	// in this mount as an unsaved file (docs/semantics.md §4, "Creating"),
	// but the database must not hold it; the case removes the name again.
	pending string
}

// The database every case runs against holds victim.json, whose content
// must survive every rejected save.
const victimBody = `{"keep":"me","n":1}`

// badCases lists the cases; entry is the name of an existing _changes entry.
func badCases(entry string) []badCase {
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	big := []byte(`{"big":"` + strings.Repeat("x", 9<<20) + `"}`)
	long := strings.Repeat("n", 300)
	return []badCase{
		{name: "invalid JSON", path: "victim.json", data: []byte(`{"a":`), want: syscall.EINVAL},
		{name: "trailing garbage", path: "victim.json", data: []byte(`{"a":1} x`), want: syscall.EINVAL},
		{name: "JSON array", path: "victim.json", data: []byte(`[1,2,3]`), want: syscall.EINVAL},
		{name: "JSON string", path: "victim.json", data: []byte(`"hello"`), want: syscall.EINVAL},
		{name: "JSON number", path: "victim.json", data: []byte(`42`), want: syscall.EINVAL},
		{name: "invalid UTF-8", path: "victim.json", data: []byte("{\"a\":\"\xff\xfe\"}"), want: syscall.EINVAL},
		{name: "invalid UTF-8 key", path: "victim.json", data: []byte("{\"\xc3\x28\":1}"), want: syscall.EINVAL},
		{name: "duplicate keys", path: "victim.json", data: []byte(`{"a":1,"a":2}`), want: syscall.EINVAL},
		{name: "nesting 10000 deep", path: "victim.json", data: []byte(deep), want: syscall.EINVAL},
		{name: "9 MB document", path: "victim.json", data: big, want: syscall.EFBIG},
		{name: "_id mismatch", path: "victim.json", data: []byte(`{"_id":"other","a":1}`), want: syscall.EINVAL},
		{name: "_id not a string", path: "victim.json", data: []byte(`{"_id":7,"a":1}`), want: syscall.EINVAL},
		{name: "forbidden _ field", path: "victim.json", data: []byte(`{"_foo":1}`), want: syscall.EINVAL},
		{name: "malformed _rev", path: "victim.json", data: []byte(`{"_rev":"nonsense","a":1}`), want: syscall.EINVAL},
		{name: "_rev not a string", path: "victim.json", data: []byte(`{"_rev":5,"a":1}`), want: syscall.EINVAL},
		{name: "stale _rev", path: "victim.json", data: []byte(`{"_rev":"1-00000000000000000000000000000000","a":1}`), want: syscall.ESTALE},
		{name: "new doc invalid JSON", path: "fresh.json", data: []byte(`nope`), want: syscall.EINVAL, pending: "fresh"},
		{name: "new doc array", path: "fresh.json", data: []byte(`[]`), want: syscall.EINVAL, pending: "fresh"},
		{name: "new doc forbidden _ field", path: "fresh.json", data: []byte(`{"_attachments":3}`), want: syscall.EINVAL, pending: "fresh"},
		{name: "new doc _deleted only", path: "fresh.json", data: []byte(`{"_deleted":true}`), want: syscall.ENOENT, pending: "fresh"},
		{name: "new local doc invalid JSON", path: "_local/fresh.json", data: []byte(`{"a":`), want: syscall.EINVAL, pending: "_local/fresh"},
		{name: "new design doc string", path: "_design/fresh.json", data: []byte(`"x"`), want: syscall.EINVAL, pending: "_design/fresh"},
		{name: "rename onto a name over 255 bytes", op: opRename, path: long + ".json", want: syscall.ENAMETOOLONG, gone: []string{long + ".json"}, notStored: long},
		{name: "local doc name over 255 bytes", path: "_local/" + long + ".json", data: []byte(`{"a":1}`), want: syscall.ENAMETOOLONG, gone: []string{"_local/" + long + ".json"}, notStored: "_local/" + long},
		{name: "reserved _ id", path: "_foo.json", data: []byte(`{"a":1}`), want: syscall.EPERM, gone: []string{"_foo.json"}},
		{name: "doc name over 255 bytes", path: long + ".json", data: []byte(`{"a":1}`), want: syscall.ENAMETOOLONG, gone: []string{long + ".json"}, notStored: long},
		{name: "db name uppercase", op: opMkdir, path: "../Bad", want: syscall.EINVAL, gone: []string{"../Bad"}},
		{name: "db name digit first", op: opMkdir, path: "../1abc", want: syscall.EINVAL, gone: []string{"../1abc"}},
		{name: "db name underscore first", op: opMkdir, path: "../_users", want: syscall.EINVAL, gone: []string{"../_users"}},
		{name: "db name with dot", op: opMkdir, path: "../a.b.couch", want: syscall.EINVAL, gone: []string{"../a.b.couch", "../a.b"}},
		{name: "db unknown engine", op: opMkdir, path: "../zz.nosuchengine", want: syscall.EINVAL, gone: []string{"../zz.nosuchengine", "../zz"}},
		{name: "db name over 238 bytes", op: opMkdir, path: "../" + strings.Repeat("d", 240), want: syscall.EINVAL, gone: []string{"../" + strings.Repeat("d", 240)}},
		{name: "db name over 255 bytes", op: opMkdir, path: "../" + long, want: syscall.ENAMETOOLONG, gone: []string{"../" + long}},
		{name: "directory in a database", op: opMkdir, path: "sub", want: syscall.EPERM, gone: []string{"sub"}},
		{name: "file at the top", op: opCreate, path: "../top.json", want: syscall.EPERM, gone: []string{"../top.json"}},
		{name: "unlink _info", op: opUnlink, path: "_info", want: syscall.EPERM},
		{name: "write _info", op: opOpenWrite, path: "_info", want: syscall.EACCES},
		{name: "create in _changes", op: opCreate, path: "_changes/000000000099-x.json", want: syscall.EACCES},
		{name: "write a _changes entry", op: opOpenWrite, path: "_changes/" + entry, want: syscall.EACCES},
		{name: "unlink a _changes entry", op: opUnlink, path: "_changes/" + entry, want: syscall.EACCES},
		{name: "_security not JSON", path: "_security", data: []byte(`admins`), want: syscall.EINVAL},
		{name: "_security array", path: "_security", data: []byte(`[1]`), want: syscall.EINVAL},
		{name: "_security admins not an object", path: "_security", data: []byte(`{"admins":"x"}`), want: syscall.EINVAL},
		{name: "_revs_limit word", path: "_revs_limit", data: []byte("many\n"), want: syscall.EINVAL},
		{name: "_revs_limit zero", path: "_revs_limit", data: []byte("0\n"), want: syscall.EINVAL},
		{name: "_revs_limit negative", path: "_revs_limit", data: []byte("-5\n"), want: syscall.EINVAL},
		{name: "_purge not JSON", path: "_purge", data: []byte(`purge it`), want: syscall.EINVAL},
		{name: "_purge array", path: "_purge", data: []byte(`[1]`), want: syscall.EINVAL},
		{name: "_purge revs not a list", path: "_purge", data: []byte(`{"victim":"1-abc"}`), want: syscall.EINVAL},
	}
}

// TestBadInput sends every kind of malformed or forbidden write through an
// in-process mount, for each engine: each must fail with its documented
// errno, change nothing (the victim document, _security, _revs_limit and
// update_seq/doc counts in _info are as before), and leave the mount
// serving (a save right after succeeds).
func TestBadInput(t *testing.T) {
	m := mountInProcess(t)
	for _, ext := range []string{".couch", ".pebble"} {
		t.Run(strings.TrimPrefix(ext, "."), func(t *testing.T) {
			name := "bad" + strings.TrimPrefix(ext, ".")
			dbDir := mkdirDB(t, m.mnt, name, ext)
			if err := saveDoc(dbDir, "victim", []byte(victimBody)); err != nil {
				t.Fatal(err)
			}
			ents, err := os.ReadDir(filepath.Join(dbDir, "_changes"))
			if err != nil || len(ents) != 1 {
				t.Fatalf("_changes after one save: %v entries, err %v", len(ents), err)
			}
			for _, c := range badCases(ents[0].Name()) {
				t.Run(c.name, func(t *testing.T) { runBadCase(t, m.srv, name, dbDir, c) })
			}
		})
	}
}

func runBadCase(t *testing.T, srv *dbcore.Server, dbName, dbDir string, c badCase) {
	before := snapshotDB(t, dbDir)
	stage, err := applyBad(filepath.Join(dbDir, c.path), c)
	var errno syscall.Errno
	switch {
	case err == nil:
		t.Errorf("%s succeeded; want %v", c.name, c.want)
	case !errors.As(err, &errno):
		t.Errorf("%s failed at %s with %v, not an errno; want %v", c.name, stage, err, c.want)
	case errno != c.want:
		t.Errorf("%s failed at %s with %v (%d); want %v (%d)", c.name, stage, errno, int(errno), c.want, int(c.want))
	}
	after := snapshotDB(t, dbDir)
	if d := before.diff(after); d != "" {
		t.Errorf("%s changed the database: %s", c.name, d)
	}
	for _, p := range c.gone {
		requireGone(t, filepath.Join(dbDir, p))
	}
	if c.notStored != "" {
		requireNotStored(t, srv, dbName, c.notStored)
	}
	if c.pending != "" {
		requireNotStored(t, srv, dbName, c.pending)
		// The refused create left a mount-only name; forgetting it must
		// work and leave nothing.
		if err := syscall.Unlink(filepath.Join(dbDir, c.path)); err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Errorf("%s: removing the unsaved name: %v", c.name, err)
		}
		if _, err := os.Lstat(filepath.Join(dbDir, c.path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s still exists after unlink (lstat: %v)", c.name, c.path, err)
		}
		requireNotStored(t, srv, dbName, c.pending)
	}
	// The mount keeps serving: a good save and a read right after.
	canary := fmt.Appendf(nil, `{"after":%q}`, c.name)
	if err := saveDoc(dbDir, "canary", canary); err != nil {
		t.Fatalf("mount stopped serving after %s: %v", c.name, err)
	}
	if data, err := os.ReadFile(docPath(dbDir, "canary")); err != nil || !bytes.Contains(data, []byte(c.name)) {
		t.Fatalf("canary after %s: %v %.100q", c.name, err, data)
	}
}

// requireGone fails the test unless path does not exist: lstat fails
// with ENOENT, or with ENAMETOOLONG while no listing of its directory
// shows the name.
func requireGone(t *testing.T, path string) {
	t.Helper()
	_, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return
	case errors.Is(err, syscall.ENAMETOOLONG):
		ents, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Errorf("list %s: %v", filepath.Dir(path), err)
			return
		}
		for _, e := range ents {
			if e.Name() == filepath.Base(path) {
				t.Errorf("%s is listed although its name is too long to look up", path)
			}
		}
		return
	}
	t.Errorf("%s exists afterwards (lstat: %v)", path, err)
}

// requireNotStored fails the test unless database dbName has no live
// document id (asked of dbcore directly, below the mount).
func requireNotStored(t *testing.T, srv *dbcore.Server, dbName, id string) {
	t.Helper()
	db, err := srv.OpenDB(dbName)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if d, err := db.Get(id); !errors.Is(err, dbcore.ErrNotFound) {
		t.Errorf("a refused create stored %q: Get = %v, %v", id, d, err)
	}
}

// applyBad performs c on path and names the step that failed.
func applyBad(path string, c badCase) (stage string, err error) {
	switch c.op {
	case opMkdir:
		return "mkdir", os.Mkdir(path, 0o755)
	case opCreate:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return "create", err
		}
		return "close", f.Close()
	case opUnlink:
		return "unlink", syscall.Unlink(path)
	case opRename:
		return "rename", os.Rename(filepath.Join(filepath.Dir(path), "victim.json"), path)
	case opOpenWrite:
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return "open", err
		}
		return "close", f.Close()
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "open", err
	}
	if _, err := f.Write(c.data); err != nil {
		f.Close()
		return "write", err
	}
	return "close", f.Close()
}

// dbSnapshot is the part of a database a rejected request must not change.
type dbSnapshot struct {
	victim, security, revsLimit string
	info                        map[string]string // update_seq, doc_count, doc_del_count
}

func snapshotDB(t *testing.T, dbDir string) dbSnapshot {
	t.Helper()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dbDir, name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return string(data)
	}
	s := dbSnapshot{
		victim:    read("victim.json"),
		security:  read("_security"),
		revsLimit: read("_revs_limit"),
		info:      map[string]string{},
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal([]byte(read("_info")), &info); err != nil {
		t.Fatalf("_info is not a JSON object: %v", err)
	}
	for _, k := range []string{"update_seq", "doc_count", "doc_del_count"} {
		v, ok := info[k]
		if !ok {
			t.Fatalf("_info has no %q", k)
		}
		s.info[k] = string(v)
	}
	return s
}

func (s dbSnapshot) diff(o dbSnapshot) string {
	var d []string
	if s.victim != o.victim {
		d = append(d, fmt.Sprintf("victim.json %.120q → %.120q", s.victim, o.victim))
	}
	if s.security != o.security {
		d = append(d, fmt.Sprintf("_security %q → %q", s.security, o.security))
	}
	if s.revsLimit != o.revsLimit {
		d = append(d, fmt.Sprintf("_revs_limit %q → %q", s.revsLimit, o.revsLimit))
	}
	for k, v := range s.info {
		if o.info[k] != v {
			d = append(d, fmt.Sprintf("_info %s %s → %s", k, v, o.info[k]))
		}
	}
	return strings.Join(d, "; ")
}
