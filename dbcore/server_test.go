package dbcore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

func TestValidateDBName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"db", true},
		{"a0_$()+-/b", true},
		{"users/alice", true},
		{"a/b/c", true},
		{strings.Repeat("a", dbcore.MaxDBNameLen), true},
		{strings.Repeat("a", dbcore.MaxDBNameLen+1), false},
		{"", false},
		{"A", false},
		{"Db", false},
		{"0db", false},
		{"_users", false},
		{"-a", false},
		{"a.b", false},
		{"a b", false},
		{"a/", false},
		{"a//b", false},
		{"/a", false},
		{"a\x00", false},
		{"é", false},
		{"a%2f", false},
	}
	for _, c := range cases {
		err := dbcore.ValidateDBName(c.name)
		if c.ok && err != nil {
			t.Errorf("ValidateDBName(%q) = %v, want nil", c.name, err)
		}
		if !c.ok && !errors.Is(err, dbcore.ErrInvalidDBName) {
			t.Errorf("ValidateDBName(%q) = %v, want ErrInvalidDBName", c.name, err)
		}
	}
}

func TestValidateDocID(t *testing.T) {
	cases := []struct {
		id string
		ok bool
	}{
		{"a", true},
		{"with space", true},
		{"ünïcödé", true},
		{"a/b", true},
		{"_design/x", true},
		{"_design/x/y", true},
		{"_local/x", true},
		{"", false},
		{"_design/", false},
		{"_local/", false},
		{"_design", false},
		{"_foo", false},
		{"_", false},
		{"bad\xffutf8", false},
		{"nul\x00byte", false},
	}
	for _, c := range cases {
		err := dbcore.ValidateDocID(c.id)
		if c.ok && err != nil {
			t.Errorf("ValidateDocID(%q) = %v, want nil", c.id, err)
		}
		if !c.ok && !errors.Is(err, dbcore.ErrInvalidDoc) {
			t.Errorf("ValidateDocID(%q) = %v, want ErrInvalidDoc", c.id, err)
		}
	}
}

func TestCreateDB(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := newServer(t, ec)
		other := otherEngine(ec)
		wantErr(t, "CreateDB default", s.CreateDB("plain", ""), nil)
		wantErr(t, "CreateDB named", s.CreateDB("named", other.name), nil)
		wantErr(t, "CreateDB own name", s.CreateDB("own", ec.name), nil)
		wantErr(t, "CreateDB nested", s.CreateDB("dir/sub", ""), nil)
		for name, want := range map[string]string{"plain": ec.name, "named": other.name, "own": ec.name, "dir/sub": ec.name} {
			got, err := s.EngineOf(name)
			if err != nil || got != want {
				t.Errorf("EngineOf(%q) = %q, %v; want %q", name, got, err, want)
			}
			db := openDB(t, s, name)
			if info := mustInfo(t, db); info.Engine != want || info.DBName != name {
				t.Errorf("Info of %s: engine %q name %q", name, info.Engine, info.DBName)
			}
		}

		err := s.CreateDB("x", "nosuch")
		wantErr(t, "CreateDB unknown engine", err, dbcore.ErrUnknownEngine)
		wantErr(t, "CreateDB invalid name", s.CreateDB("Bad", ""), dbcore.ErrInvalidDBName)
		if ok, _ := s.Exists("x"); ok {
			t.Fatal("a failed CreateDB left a database")
		}

		// Same name, same engine: exists, no engine conflict.
		err = s.CreateDB("plain", ec.name)
		wantErr(t, "CreateDB twice", err, dbcore.ErrDBExists)
		if errors.Is(err, dbcore.ErrEngineConflict) {
			t.Errorf("CreateDB twice with the same engine: %v is an engine conflict", err)
		}
		err = s.CreateDB("plain", "")
		wantErr(t, "CreateDB twice (default)", err, dbcore.ErrDBExists)
		// Same name, another engine: both.
		err = s.CreateDB("plain", other.name)
		wantErr(t, "CreateDB under another engine", err, dbcore.ErrDBExists)
		wantErr(t, "CreateDB under another engine", err, dbcore.ErrEngineConflict)

		all, err := s.AllDBs()
		if want := []string{"dir/sub", "named", "own", "plain"}; err != nil || !slices.Equal(all, want) {
			t.Errorf("AllDBs = %q, %v; want %q", all, err, want)
		}
	})
}

func TestNewServerOptions(t *testing.T) {
	ec := engineCases[0]
	dir := t.TempDir()
	cases := []struct {
		name string
		mod  func(*dbcore.Options)
		want error
	}{
		{"unknown default engine", func(o *dbcore.Options) { o.DefaultEngine = "nosuch" }, dbcore.ErrUnknownEngine},
		{"no default engine", func(o *dbcore.Options) { o.DefaultEngine = "" }, dbcore.ErrUnknownEngine},
		{"no engines", func(o *dbcore.Options) { o.Engines = nil }, dbcore.ErrInvalidArgument},
		{"engine twice", func(o *dbcore.Options) { o.Engines = append(o.Engines, ec.new()) }, dbcore.ErrInvalidArgument},
		{"no dir", func(o *dbcore.Options) { o.Dir = "" }, dbcore.ErrInvalidArgument},
		{"missing dir", func(o *dbcore.Options) { o.Dir = filepath.Join(dir, "missing") }, nil},
	}
	for _, c := range cases {
		opts := serverOptions(t, dir, ec)
		c.mod(&opts)
		s, err := dbcore.NewServer(opts)
		if err == nil {
			s.Close()
			t.Errorf("%s: NewServer succeeded", c.name)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: NewServer = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestEngineConflict(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dir := t.TempDir()
		other := otherEngine(ec)
		s := startServer(t, serverOptions(t, dir, ec))
		db := createDB(t, s, "dup")
		update(t, db, "doc", "", `{}`)
		db.Close()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		// Another program (here: the engine itself) makes the same name
		// under a second engine while the server is down.
		oe := other.new()
		edb, err := oe.Create(filepath.Join(dir, "dup"+oe.Ext()))
		if err != nil {
			t.Fatalf("creating dup by hand: %v", err)
		}
		if err := edb.Close(); err != nil {
			t.Fatal(err)
		}

		s = startServer(t, serverOptions(t, dir, ec))
		_, err = s.OpenDB("dup")
		wantErr(t, "OpenDB of a name under two engines", err, dbcore.ErrEngineConflict)
		_, err = s.EngineOf("dup")
		wantErr(t, "EngineOf", err, dbcore.ErrEngineConflict)
		_, err = s.Exists("dup")
		wantErr(t, "Exists", err, dbcore.ErrEngineConflict)
		err = s.CreateDB("dup", "")
		wantErr(t, "CreateDB", err, dbcore.ErrDBExists)
		wantErr(t, "CreateDB", err, dbcore.ErrEngineConflict)
		err = s.DeleteDB("dup", false)
		wantErr(t, "DeleteDB", err, dbcore.ErrEngineConflict)
		if other.onDisk || ec.onDisk {
			all, err := s.AllDBs()
			if err != nil || !slices.Equal(all, []string{"dup"}) {
				t.Errorf("AllDBs = %q, %v; want [dup] once", all, err)
			}
		}

		// Removing the stray copy resolves the conflict; the data is intact.
		if err := oe.Delete(filepath.Join(dir, "dup"+oe.Ext())); err != nil {
			t.Fatal(err)
		}
		db = openDB(t, s, "dup")
		mustGet(t, db, "doc")
	})
}

func TestServerLocked(t *testing.T) {
	ec := engineCases[0]
	dir := t.TempDir()
	s, err := dbcore.NewServer(serverOptions(t, dir, ec))
	if err != nil {
		t.Fatal(err)
	}
	_, err = dbcore.NewServer(serverOptions(t, dir, ec))
	wantErr(t, "second NewServer on the same directory", err, dbcore.ErrLocked)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s2, err := dbcore.NewServer(serverOptions(t, dir, ec))
	if err != nil {
		t.Fatalf("NewServer after Close: %v", err)
	}
	s2.Close()
	_, err = s.OpenDB("x")
	wantErr(t, "OpenDB on a closed server", err, dbcore.ErrClosed)
	wantErr(t, "CreateDB on a closed server", s.CreateDB("x", ""), dbcore.ErrClosed)
}

func TestOpenDeleteExists(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := newServer(t, ec)
		for _, name := range []string{"a", "b", "c/d"} {
			wantErr(t, "CreateDB "+name, s.CreateDB(name, ""), nil)
		}
		all, err := s.AllDBs()
		if want := []string{"a", "b", "c/d"}; err != nil || !slices.Equal(all, want) {
			t.Fatalf("AllDBs = %q, %v; want %q", all, err, want)
		}
		for name, want := range map[string]bool{"a": true, "c/d": true, "c": false, "zz": false} {
			if ok, err := s.Exists(name); ok != want || err != nil {
				t.Errorf("Exists(%q) = %v, %v; want %v", name, ok, err, want)
			}
		}
		_, err = s.Exists("Bad")
		wantErr(t, "Exists of an invalid name", err, dbcore.ErrInvalidDBName)
		_, err = s.OpenDB("zz")
		wantErr(t, "OpenDB missing", err, dbcore.ErrDBNotFound)
		_, err = s.OpenDB("Bad")
		wantErr(t, "OpenDB invalid", err, dbcore.ErrInvalidDBName)
		_, err = s.EngineOf("zz")
		wantErr(t, "EngineOf missing", err, dbcore.ErrDBNotFound)
		wantErr(t, "DeleteDB missing", s.DeleteDB("zz", false), dbcore.ErrDBNotFound)
		wantErr(t, "DeleteDB invalid", s.DeleteDB("a.b", false), dbcore.ErrInvalidDBName)

		// onlyIfEmpty: documents, then local documents, block it; a
		// database holding only tombstones is empty.
		a := openDB(t, s, "a")
		r := update(t, a, "doc", "", `{"x":1}`)
		wantErr(t, "DeleteDB onlyIfEmpty with a doc", s.DeleteDB("a", true), dbcore.ErrNotEmpty)
		if _, err := a.DeleteDoc("doc", r); err != nil {
			t.Fatal(err)
		}
		update(t, a, "_local/l", "", `{}`)
		wantErr(t, "DeleteDB onlyIfEmpty with a local doc", s.DeleteDB("a", true), dbcore.ErrNotEmpty)
		if _, err := a.DeleteDoc("_local/l", ""); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "DeleteDB onlyIfEmpty of tombstones only", s.DeleteDB("a", true), nil)

		// The handle outlives the database and fails on every call.
		_, err = a.Get("doc")
		wantErr(t, "Get on a deleted db", err, dbcore.ErrDBNotFound)
		_, err = tryUpdate(a, &dbcore.Doc{ID: "new"}, dbcore.UpdateOptions{})
		wantErr(t, "UpdateDocs on a deleted db", err, dbcore.ErrDBNotFound)
		_, err = a.SaveJSON("new", []byte(`{}`), "")
		wantErr(t, "SaveJSON on a deleted db", err, dbcore.ErrDBNotFound)
		_, err = a.Info()
		wantErr(t, "Info on a deleted db", err, dbcore.ErrDBNotFound)
		wantErr(t, "Changes on a deleted db", a.Changes(0, 0, func(dbcore.Change) error { return nil }), dbcore.ErrDBNotFound)
		wantErr(t, "SetSecurity on a deleted db", a.SetSecurity([]byte(`{}`)), dbcore.ErrDBNotFound)
		_, err = a.WaitForChange(testContext(t, 10*time.Second), 1000)
		wantErr(t, "WaitForChange on a deleted db", err, dbcore.ErrDBNotFound)
		if ok, err := s.Exists("a"); ok || err != nil {
			t.Errorf("Exists(a) after delete = %v, %v", ok, err)
		}
		wantErr(t, "DeleteDB twice", s.DeleteDB("a", false), dbcore.ErrDBNotFound)

		// A new database of the same name is a new database; the old
		// handle stays dead.
		wantErr(t, "CreateDB again", s.CreateDB("a", ""), nil)
		a2 := openDB(t, s, "a")
		if info := mustInfo(t, a2); info.DocCount != 0 || info.UpdateSeq != 0 {
			t.Errorf("recreated db info %+v", info)
		}
		_, err = a.Get("doc")
		wantErr(t, "old handle on a recreated db", err, dbcore.ErrDBNotFound)
		a.Close()
		a.Close() // harmless

		wantErr(t, "DeleteDB b (not open)", s.DeleteDB("b", true), nil)
		wantErr(t, "DeleteDB c/d", s.DeleteDB("c/d", false), nil)
		all, err = s.AllDBs()
		if err != nil || !slices.Equal(all, []string{"a"}) {
			t.Errorf("AllDBs after deletes = %q, %v", all, err)
		}
	})
}

func TestRestartPersistence(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dir := t.TempDir()
		s, err := dbcore.NewServer(serverOptions(t, dir, ec))
		if err != nil {
			t.Fatal(err)
		}
		type docWant struct{ rev, body string }
		want := map[string]map[string]docWant{}
		var infos = map[string]dbcore.Info{}
		for i, name := range []string{"one", "two/nested"} {
			if err := s.CreateDB(name, ""); err != nil {
				t.Fatal(err)
			}
			db, err := s.OpenDB(name)
			if err != nil {
				t.Fatal(err)
			}
			want[name] = map[string]docWant{}
			for j := range 5 {
				id := fmt.Sprintf("doc%d", j)
				body := fmt.Sprintf(`{"db":%d,"j":%d}`, i, j)
				r := update(t, db, id, "", `{"first":true}`)
				r = update(t, db, id, r, body)
				want[name][id] = docWant{r, body}
			}
			r := update(t, db, "gone", "", `{}`)
			if _, err := db.DeleteDoc("gone", r); err != nil {
				t.Fatal(err)
			}
			lr := update(t, db, "_local/cp", "", `{"cp":1}`)
			want[name]["_local/cp"] = docWant{lr, `{"cp":1}`}
			if err := db.SetSecurity([]byte(`{"admins":{"names":["bob"]}}`)); err != nil {
				t.Fatal(err)
			}
			if err := db.SetRevsLimit(uint64(10 + i)); err != nil {
				t.Fatal(err)
			}
			infos[name] = mustInfo(t, db)
			db.Close()
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s = startServer(t, serverOptions(t, dir, ec))
		if ec.onDisk {
			all, err := s.AllDBs()
			if err != nil || !slices.Equal(all, []string{"one", "two/nested"}) {
				t.Errorf("AllDBs after restart = %q, %v", all, err)
			}
		}
		for i, name := range []string{"one", "two/nested"} {
			if ok, err := s.Exists(name); !ok || err != nil {
				t.Fatalf("Exists(%q) after restart = %v, %v", name, ok, err)
			}
			db := openDB(t, s, name)
			for id, w := range want[name] {
				d := mustGet(t, db, id)
				if d.Rev != w.rev || string(d.Body) != w.body {
					t.Errorf("%s/%s after restart = %s %s, want %s %s", name, id, d.Rev, d.Body, w.rev, w.body)
				}
			}
			_, err := db.Get("gone")
			wantErr(t, "deleted doc after restart", err, dbcore.ErrNotFound)
			if got := string(db.Security()); got != `{"admins":{"names":["bob"]}}` {
				t.Errorf("security after restart = %s", got)
			}
			if got := db.RevsLimit(); got != uint64(10+i) {
				t.Errorf("revs limit after restart = %d", got)
			}
			before, after := infos[name], mustInfo(t, db)
			before.Sizes, after.Sizes = dbcore.Sizes{}, dbcore.Sizes{} // file sizes may change on reopen
			if before != after {
				t.Errorf("info after restart = %+v, want %+v", after, before)
			}
		}
	})
}

func TestSubscription(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := newServer(t, ec)
		a, b := createDB(t, s, "a"), createDB(t, s, "b")
		sub := s.Subscribe()
		defer sub.Close()
		if got := sub.Take(); got != nil {
			t.Errorf("Take before any change = %q", got)
		}
		wait := func(want ...string) {
			t.Helper()
			select {
			case <-sub.C():
			case <-time.After(10 * time.Second):
				t.Fatalf("no notification for %q", want)
			}
			if got := sub.Take(); !slices.Equal(got, want) {
				t.Errorf("Take = %q, want %q", got, want)
			}
		}
		// Writers are answered after notify, so by the time the writes
		// return their databases are recorded.
		update(t, b, "x", "", `{}`)
		r := update(t, a, "x", "", `{}`)
		update(t, a, "x", r, `{"n":2}`)
		wait("a", "b")
		if got := sub.Take(); got != nil {
			t.Errorf("second Take = %q", got)
		}
		if err := b.SetSecurity([]byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		wait("b")
		update(t, a, "_local/x", "", `{}`)
		wait("a")
		// A write that changes nothing notifies nobody.
		if _, err := tryUpdate(a, &dbcore.Doc{ID: "x"}, dbcore.UpdateOptions{}); !errors.Is(err, dbcore.ErrConflict) {
			t.Fatalf("conflicting create: %v", err)
		}
		select {
		case <-sub.C():
			t.Errorf("notified after a failed write: %q", sub.Take())
		default:
		}
		b.Close()
		if err := s.DeleteDB("b", false); err != nil {
			t.Fatal(err)
		}
		wait("b")

		sub2 := s.Subscribe()
		sub.Close()
		sub.Close()
		if _, ok := <-sub.C(); ok {
			t.Error("C not closed after Close")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case _, ok := <-sub2.C():
			for ok {
				_, ok = <-sub2.C()
			}
		case <-time.After(10 * time.Second):
			t.Fatal("server Close did not close a subscription")
		}
		sub2.Close()
		if _, ok := <-s.Subscribe().C(); ok {
			t.Error("Subscribe on a closed server is not closed")
		}
	})
}

// TestDeleteIfEmptyReadsAgain: the emptiness check of DeleteDB(onlyIfEmpty)
// starts its fold of local documents over when the engine says the fold met
// writes a failed commit discarded (engines.ErrRolledBack), and gives up
// with that error only when it keeps happening.
func TestDeleteIfEmptyReadsAgain(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		ce := newCountingEngine(checked(t, ec))
		s := startServer(t, dbcore.Options{Dir: t.TempDir(), Engines: []engines.Engine{ce}, DefaultEngine: ec.name, Logger: quietLogger})
		for _, name := range []string{"once", "always"} {
			if err := s.CreateDB(name, ""); err != nil {
				t.Fatal(err)
			}
		}
		ce.rolledBackFolds.Store(1)
		wantErr(t, "DeleteDB onlyIfEmpty with one rolled-back fold", s.DeleteDB("once", true), nil)
		ce.rolledBackFolds.Store(100)
		wantErr(t, "DeleteDB onlyIfEmpty with every fold rolled back", s.DeleteDB("always", true), engines.ErrRolledBack)
		ce.rolledBackFolds.Store(0)
		if ok, err := s.Exists("always"); err != nil || !ok {
			t.Fatalf("Exists(always) = %v, %v after a refused delete", ok, err)
		}
	})
}
