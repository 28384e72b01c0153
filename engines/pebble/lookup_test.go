package pebble

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// TestOpenDocsPastLastID checks OpenDocs on batches whose IDs fall before,
// on and after the last stored ID, which lookup answers without seeking.
func TestOpenDocsPastLastID(t *testing.T) {
	edb, err := New(Options{}).Create(filepath.Join(t.TempDir(), "l.pebble"))
	if err != nil {
		t.Fatal(err)
	}
	defer edb.Close()
	d := edb.(*db)
	empty, err := d.OpenDocs([]string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(empty, func(di *engines.DocInfo) bool { return di != nil }) {
		t.Fatalf("empty db: OpenDocs found %v", empty)
	}
	loadDocs(t, d, []string{"b", "d", "f"}, 300, 3)
	for _, tc := range []struct {
		ids  []string
		want []bool
	}{
		{[]string{"a", "b", "c", "d", "e", "f", "g"}, []bool{false, true, false, true, false, true, false}},
		{[]string{"g", "f"}, []bool{false, true}},
		{[]string{"z", "zz"}, []bool{false, false}},
		{[]string{"f"}, []bool{true}},
		{[]string{"f", "f"}, []bool{true, true}},
		{[]string{"fa", "b"}, []bool{false, true}},
	} {
		infos, err := d.OpenDocs(tc.ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, di := range infos {
			if (di != nil) != tc.want[i] || (di != nil && di.ID != tc.ids[i]) {
				t.Errorf("OpenDocs(%q)[%d] = %v, want found=%v", tc.ids, i, di, tc.want[i])
			}
		}
	}
}
