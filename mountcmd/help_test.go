package mountcmd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current help text")

// TestHelpGolden keeps every command's --help text under review: a change
// shows up as a diff of testdata/*.golden (go test ./mountcmd -update).
func TestHelpGolden(t *testing.T) {
	cases := []struct {
		golden string
		args   []string
	}{
		{"couchfs", []string{"couchfs", "--help"}},
		{"mount", []string{"couchfs", "mount", "--help"}},
		{"unmount", []string{"couchfs", "unmount", "--help"}},
		{"create-db", []string{"couchfs", "create-db", "--help"}},
		{"list-dbs", []string{"couchfs", "list-dbs", "--help"}},
		{"version", []string{"couchfs", "version", "--help"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			app := NewApp()
			var out, errOut bytes.Buffer
			app.Writer, app.ErrWriter = &out, &errOut
			if code := Run(app, tc.args, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			path := filepath.Join("testdata", tc.golden+".golden")
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./mountcmd -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("%s --help changed; run go test ./mountcmd -update if intended.\ngot:\n%s\nwant:\n%s", tc.golden, out.String(), want)
			}
		})
	}
}

// TestUsageErrors: a wrong command line exits 2 with a message naming help.
func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"couchfs", "bogus"},
		{"couchfs", "mount"},
		{"couchfs", "mount", "a", "b"},
		{"couchfs", "create-db"},
		{"couchfs", "list-dbs", "extra"},
		{"couchfs", "mount", "--no-such-flag", "x"},
		{"couchfs", "create-db", "--engine", "nosuch", "--data-dir", "DATA", "x"},
	}
	for _, args := range cases {
		app := NewApp()
		var out, errOut bytes.Buffer
		app.Writer, app.ErrWriter = &out, &errOut
		for i, a := range args {
			if a == "DATA" {
				args[i] = t.TempDir()
			}
		}
		if code := Run(app, args, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %q", args, code, exitUsage, errOut.String())
		}
		if errOut.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

// TestDataDirDefault: $XDG_DATA_HOME/couchfs, else ~/.local/share/couchfs,
// created if missing.
func TestDataDirDefault(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	app := NewApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	if code := Run(app, []string{"couchfs", "create-db", "albums"}, &errOut); code != 0 {
		t.Fatalf("create-db: exit %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(xdg, "couchfs")); err != nil {
		t.Fatalf("data dir not created under XDG_DATA_HOME: %v", err)
	}
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", home)
	app = NewApp()
	app.Writer, app.ErrWriter = &out, &errOut
	if code := Run(app, []string{"couchfs", "list-dbs"}, &errOut); code != 0 {
		t.Fatalf("list-dbs: exit %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(home, ".local", "share", "couchfs")); err != nil {
		t.Fatalf("data dir not created under ~/.local/share: %v", err)
	}
}
