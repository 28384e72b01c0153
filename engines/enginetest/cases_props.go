package enginetest

import (
	"encoding/hex"
	"path/filepath"
)

// propsCases port cpse_test_get_set_props, plus the purge infos limit and
// SetUpdateSeq.
func propsCases(*env) []testCase {
	return []testCase{
		{"default_props", func(e *env) {
			e.counts(0, 0, 0, 0)
			if e.db.RevsLimit() != 1000 {
				e.t.Errorf("RevsLimit = %d, want 1000", e.db.RevsLimit())
			}
			if e.db.PurgeInfosLimit() == 0 {
				e.t.Error("PurgeInfosLimit = 0, want > 0")
			}
			if got := string(e.db.Security()); got != "{}" {
				e.t.Errorf("Security = %q, want {}", got)
			}
			if u := e.db.UUID(); len(u) != 32 || !isHex(u) {
				e.t.Errorf("UUID = %q, want 32 hex digits", u)
			}
			si := e.db.SizeInfo()
			if si.Active != 0 || si.External != 0 {
				e.t.Errorf("SizeInfo of an empty db = %+v", si)
			}
			if n, err := e.db.CountChangesSince(0); err != nil || n != 0 {
				e.t.Errorf("CountChangesSince(0) = %d, %v", n, err)
			}
		}},
		{"set_security", func(e *env) {
			obj := []byte(`{"members":{"names":["bob"]}}`)
			if err := e.db.SetSecurity(obj); err != nil {
				e.t.Fatal(err)
			}
			obj[2] = 'X' // the engine must have kept its own copy
			for range 2 {
				if got := string(e.db.Security()); got != `{"members":{"names":["bob"]}}` {
					e.t.Fatalf("Security = %s", got)
				}
				e.reopen()
			}
		}},
		{"set_revs_limit", func(e *env) {
			if err := e.db.SetRevsLimit(50); err != nil {
				e.t.Fatal(err)
			}
			for range 2 {
				if got := e.db.RevsLimit(); got != 50 {
					e.t.Fatalf("RevsLimit = %d, want 50", got)
				}
				e.reopen()
			}
		}},
		{"set_purge_infos_limit", func(e *env) {
			if err := e.db.SetPurgeInfosLimit(7); err != nil {
				e.t.Fatal(err)
			}
			e.reopen()
			if got := e.db.PurgeInfosLimit(); got != 7 {
				e.t.Fatalf("PurgeInfosLimit after reopen = %d, want 7", got)
			}
		}},
		{"setters_do_not_bump_update_seq", func(e *env) {
			e.w.apply(put("a", `{}`))
			if err := e.db.SetRevsLimit(10); err != nil {
				e.t.Fatal(err)
			}
			if err := e.db.SetSecurity([]byte(`{"admins":{}}`)); err != nil {
				e.t.Fatal(err)
			}
			if err := e.db.SetPurgeInfosLimit(10); err != nil {
				e.t.Fatal(err)
			}
			e.counts(1, 0, 1, 0)
		}},
		{"set_update_seq", func(e *env) {
			e.w.apply(put("a", `{}`))
			for _, step := range []struct{ set, want uint64 }{{5, 5}, {3, 5}, {5, 5}, {9, 9}} {
				if err := e.db.SetUpdateSeq(step.set); err != nil {
					e.t.Fatal(err)
				}
				if got := e.db.UpdateSeq(); got != step.want {
					e.t.Fatalf("SetUpdateSeq(%d): UpdateSeq = %d, want %d", step.set, got, step.want)
				}
			}
			e.commit()
			e.reopen()
			e.counts(1, 0, 9, 0)
			e.w.apply(put("b", `{}`))
			if got := e.openDoc("b").UpdateSeq; got != 10 {
				e.t.Fatalf("next doc at seq %d, want 10", got)
			}
		}},
		{"set_update_seq_durable_with_setter", func(e *env) {
			if err := e.db.SetUpdateSeq(4); err != nil {
				e.t.Fatal(err)
			}
			if err := e.db.SetSecurity([]byte(`{"a":1}`)); err != nil {
				e.t.Fatal(err)
			}
			e.reopen()
			if got := e.db.UpdateSeq(); got != 4 {
				e.t.Fatalf("UpdateSeq after setter and reopen = %d, want 4", got)
			}
		}},
		{"uuid_fixed_and_unique", func(e *env) {
			u := e.db.UUID()
			e.w.apply(put("a", `{}`))
			e.reopen()
			if e.db.UUID() != u {
				e.t.Fatalf("UUID changed from %s to %s", u, e.db.UUID())
			}
			other := e.create(filepath.Join(e.t.TempDir(), "other"+e.eng.Ext()))
			defer other.Close()
			if other.UUID() == u {
				e.t.Fatalf("two databases share UUID %s", u)
			}
		}},
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
