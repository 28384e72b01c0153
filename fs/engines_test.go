package fs_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestEngines runs the everyday shell session against a database of each
// on-disk engine — the real storage path, fsyncs included — and checks
// that everything is still there after unmounting and mounting again.
func TestEngines(t *testing.T) {
	for _, engine := range []string{"couch", "pebble"} {
		t.Run(engine, func(t *testing.T) {
			need(t, "python3")
			e := mountT(t, couchfs.Options{})
			sh(t, "mkdir "+e.p("db."+engine))
			if got, err := e.srv.EngineOf("db"); err != nil || got != engine {
				t.Fatalf("engine of db = %q, %v", got, err)
			}
			d := e.p("db")
			sh(t, `echo '{"title":"Blue","year":1971}' > `+d+`/blue.json`)
			sh(t, `printf '{"n":1}' > `+d+`/a%2Fb.json`)
			sh(t, "sed -i s/Blue/Red/ "+d+"/blue.json")
			must(t, "python3", "-c", `
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
d["year"] = 1972
open(p + ".tmp", "w").write(json.dumps(d))
os.replace(p + ".tmp", p)
`, d+"/blue.json")
			sh(t, "cp "+d+"/blue.json "+d+"/copy.json && mv "+d+"/copy.json "+d+"/moved.json")
			sh(t, `echo '{}' > `+d+`/gone.json && rm `+d+`/gone.json`)

			blue := e.get("db", "blue")
			if revPos(t, blue.Rev) != 3 || body(t, blue)["title"] != "Red" || body(t, blue)["year"] != 1972.0 {
				t.Errorf("blue = %s %s, want rev 3, Red, 1972", blue.Rev, blue.Body)
			}
			if out := sh(t, "cat "+d+"/blue.json"); out != string(blue.JSON()) {
				t.Errorf("cat = %q, want %q", out, blue.JSON())
			}
			want := "a%2Fb.json blue.json moved.json"
			if got := docNames(sh(t, "ls "+d)); got != want {
				t.Errorf("ls = %q, want %q", got, want)
			}
			changes := strings.Fields(sh(t, "ls "+d+"/_changes"))
			if len(changes) != 5 || !strings.HasSuffix(changes[len(changes)-1], "-gone.json") {
				t.Errorf("ls _changes = %v", changes)
			}
			var info map[string]any
			if err := json.Unmarshal([]byte(sh(t, "cat "+d+"/_info")), &info); err != nil || info["engine"] != engine {
				t.Errorf("_info engine = %v (%v)", info["engine"], err)
			}

			e.unmount()
			e.mount(couchfs.Options{})
			d = e.p("db")
			if got := docNames(sh(t, "ls "+d)); got != want {
				t.Errorf("after remount ls = %q, want %q", got, want)
			}
			if got := strings.Fields(sh(t, "ls "+d+"/_changes")); strings.Join(got, " ") != strings.Join(changes, " ") {
				t.Errorf("after remount ls _changes = %v, want %v", got, changes)
			}
			if out := sh(t, "cat "+d+"/blue.json"); out != string(blue.JSON()) {
				t.Errorf("after remount cat = %q", out)
			}
			if _, err := os.Stat(d + "/gone.json"); !os.IsNotExist(err) {
				t.Errorf("deleted document after remount: %v", err)
			}
		})
	}
}

// docNames returns the document names (*.json) of an ls output, in order.
func docNames(ls string) string {
	var names []string
	for _, n := range strings.Fields(ls) {
		if strings.HasSuffix(n, ".json") {
			names = append(names, n)
		}
	}
	return strings.Join(names, " ")
}
