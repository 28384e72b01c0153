package dbcore_test

import (
	"errors"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
)

func TestSecurity(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dir := t.TempDir()
		s, err := dbcore.NewServer(serverOptions(t, dir, ec))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDB("db", ""); err != nil {
			t.Fatal(err)
		}
		db, err := s.OpenDB("db")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(db.Security()); got != "{}" {
			t.Errorf("default security %s", got)
		}
		cases := []struct {
			data string
			want string // stored form; "" = rejected with ErrInvalidArgument
		}{
			{`{}`, `{}`},
			{"{\n  \"admins\": {\"names\": [\"alice\"], \"roles\": []},\n  \"members\": {\"roles\": [\"dev\"]}\n}\n", `{"admins":{"names":["alice"],"roles":[]},"members":{"roles":["dev"]}}`},
			{`{"readers":{},"other":[1,2]}`, `{"readers":{},"other":[1,2]}`},
			{`[]`, ""},
			{`"x"`, ""},
			{`null`, ""},
			{`42`, ""},
			{`{`, ""},
			{``, ""},
			{`{"admins":[]}`, ""},
			{`{"admins":null}`, ""},
			{`{"members":{"names":"bob"}}`, ""},
			{`{"members":{"names":[1]}}`, ""},
			{`{"admins":{"roles":{"a":1}}}`, ""},
		}
		for _, c := range cases {
			seq := db.UpdateSeq()
			prev := string(db.Security())
			err := db.SetSecurity([]byte(c.data))
			if c.want == "" {
				if !errors.Is(err, dbcore.ErrInvalidArgument) {
					t.Errorf("SetSecurity(%q) = %v, want ErrInvalidArgument", c.data, err)
				}
				if got := string(db.Security()); got != prev || db.UpdateSeq() != seq {
					t.Errorf("rejected SetSecurity(%q) changed %s → %s or moved update_seq", c.data, prev, got)
				}
				continue
			}
			if err != nil {
				t.Errorf("SetSecurity(%q): %v", c.data, err)
				continue
			}
			if got := string(db.Security()); got != c.want {
				t.Errorf("Security after SetSecurity(%q) = %s, want %s", c.data, got, c.want)
			}
			if n := db.UpdateSeq(); n != seq+1 {
				t.Errorf("SetSecurity moved update_seq %d → %d, want +1", seq, n)
			}
		}
		last := cases[2].want
		db.Close()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		db = openDB(t, startServer(t, serverOptions(t, dir, ec)), "db")
		if got := string(db.Security()); got != last {
			t.Errorf("security after restart %s, want %s", got, last)
		}
	})
}

func TestSetRevsLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		seq := db.UpdateSeq()
		wantErr(t, "SetRevsLimit(0)", db.SetRevsLimit(0), dbcore.ErrInvalidArgument)
		if db.UpdateSeq() != seq || db.RevsLimit() != 1000 {
			t.Errorf("rejected SetRevsLimit changed something")
		}
		if err := db.SetRevsLimit(5); err != nil {
			t.Fatal(err)
		}
		if db.RevsLimit() != 5 || db.UpdateSeq() != seq+1 || mustInfo(t, db).RevsLimit != 5 {
			t.Errorf("after SetRevsLimit(5): limit %d seq %d", db.RevsLimit(), db.UpdateSeq())
		}
	})
}

func TestParseRevsLimit(t *testing.T) {
	cases := []struct {
		in   string
		want uint64 // 0 = ErrInvalidArgument
	}{
		{"1000\n", 1000},
		{"1", 1},
		{" 42 ", 42},
		{"\t7\r\n", 7},
		{"18446744073709551615", 18446744073709551615},
		{"0", 0},
		{"-1", 0},
		{"+5", 0},
		{"1.5", 0},
		{"1e3", 0},
		{"abc", 0},
		{"", 0},
		{"\n", 0},
		{"1 2", 0},
		{`"5"`, 0},
		{"18446744073709551616", 0},
	}
	for _, c := range cases {
		got, err := dbcore.ParseRevsLimit([]byte(c.in))
		if c.want == 0 {
			if !errors.Is(err, dbcore.ErrInvalidArgument) {
				t.Errorf("ParseRevsLimit(%q) = %d, %v; want ErrInvalidArgument", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRevsLimit(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}
