package fs

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestPrepareSave(t *testing.T) {
	const pid = 42
	s := &nsState{own: map[string]*ownChain{}}
	s.record("blue", pid, "1-a", "2-b")
	tests := []struct {
		name     string
		id       string
		data     string
		base     string
		create   bool
		pid      uint32
		wantBody map[string]any // nil: data passed on unchanged
		wantBase string
		wantEff  string
	}{
		{name: "update without _rev uses the served rev", id: "blue", data: `{"a":1}`, base: "1-a", pid: pid,
			wantBase: "1-a", wantEff: "1-a"},
		{name: "update with current _rev", id: "blue", data: `{"_id":"blue","_rev":"2-b","a":1}`, base: "2-b", pid: pid,
			wantBase: "2-b", wantEff: "2-b"},
		{name: "same process's superseded _rev → own head", id: "blue", data: `{"_id":"blue","_rev":"1-a","a":1}`, base: "2-b", pid: pid,
			wantBody: map[string]any{"_id": "blue", "a": 1.0}, wantBase: "2-b", wantEff: "2-b"},
		{name: "other process's stale _rev stays stale", id: "blue", data: `{"_rev":"1-a","a":1}`, base: "2-b", pid: 7,
			wantBase: "2-b", wantEff: "1-a"},
		{name: "create drops foreign _id and _rev", id: "copy", data: `{"_id":"blue","_rev":"2-b","a":[1,{"_rev":"x"}]}`, create: true, pid: pid,
			wantBody: map[string]any{"a": []any{1.0, map[string]any{"_rev": "x"}}}, wantBase: "", wantEff: ""},
		{name: "create keeps own _id", id: "copy", data: `{"_id":"copy","a":1}`, create: true, pid: pid,
			wantBase: "", wantEff: ""},
		{name: "invalid JSON passes through for dbcore to reject", id: "blue", data: `{"a":`, base: "1-a", pid: pid,
			wantBase: "1-a", wantEff: "1-a"},
		{name: "not an object passes through", id: "blue", data: `[1,2]`, base: "1-a", pid: pid,
			wantBase: "1-a", wantEff: "1-a"},
		{name: "escaped _rev is still a _rev", id: "blue", data: `{"\u005frev":"1-a","a":1}`, base: "2-b", pid: pid,
			wantBody: map[string]any{"a": 1.0}, wantBase: "2-b", wantEff: "2-b"},
		{name: "_rev only inside a value", id: "blue", data: `{"note":"_rev 1-a","a":{"_rev":"1-a"}}`, base: "2-b", pid: pid,
			wantBase: "2-b", wantEff: "2-b"},
		{name: "create with escaped foreign _id drops it", id: "copy", data: `{"\u005fid":"blue","a":1}`, create: true, pid: pid,
			wantBody: map[string]any{"a": 1.0}, wantBase: "", wantEff: ""},
		{name: "trailing garbage passes through", id: "blue", data: `{"a":1} x`, base: "1-a", create: true, pid: pid,
			wantBase: "1-a", wantEff: "1-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, base, eff, _ := s.prepare(tt.id, []byte(tt.data), tt.base, tt.create, tt.pid)
			if base != tt.wantBase || eff != tt.wantEff {
				t.Errorf("base, eff = %q, %q; want %q, %q", base, eff, tt.wantBase, tt.wantEff)
			}
			if tt.wantBody == nil {
				if string(body) != tt.data {
					t.Errorf("body = %s, want unchanged %s", body, tt.data)
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if !reflect.DeepEqual(got, tt.wantBody) {
				t.Errorf("body = %s, want %v", body, tt.wantBody)
			}
		})
	}
}

func TestMayHaveMember(t *testing.T) {
	tests := []struct {
		data string
		keys []string
		want bool
	}{
		{`{"a":1}`, []string{"_rev"}, false},
		{`{"_rev":"1-a"}`, []string{"_rev"}, true},
		{`{"\u005frev":"1-a"}`, []string{"_rev"}, true},
		{`{"a":"\u00e9"}`, []string{"_rev"}, true}, // any escape may spell a key
		{`{"_id":"x"}`, []string{"_rev"}, false},
		{`{"_id":"x"}`, []string{"_rev", "_id"}, true},
		{``, []string{"_rev"}, false},
	}
	for _, tt := range tests {
		if got := mayHaveMember([]byte(tt.data), tt.keys...); got != tt.want {
			t.Errorf("mayHaveMember(%s, %q) = %v, want %v", tt.data, tt.keys, got, tt.want)
		}
	}
}

func TestOwnChain(t *testing.T) {
	s := &nsState{own: map[string]*ownChain{}}
	s.record("d", 1, "1-a", "2-b")
	s.record("d", 1, "2-b", "3-c")
	for _, rev := range []string{"1-a", "2-b"} {
		if head, ok := s.ownHead("d", 1, rev); !ok || head != "3-c" {
			t.Errorf("ownHead(%s) = %q, %v; want 3-c", rev, head, ok)
		}
	}
	if _, ok := s.ownHead("d", 1, "3-c"); ok {
		t.Error("the head itself needs no rebasing")
	}
	if _, ok := s.ownHead("d", 2, "1-a"); ok {
		t.Error("another process must not inherit the chain")
	}
	// A save by someone else on top breaks the chain.
	s.record("d", 2, "3-c", "4-d")
	if _, ok := s.ownHead("d", 1, "2-b"); ok {
		t.Error("chain survived another process's save")
	}
}
