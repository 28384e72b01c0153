package lint

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/couchfs/couchfs"

// pkg is the part of `go list -json` output the rules need.
type pkg struct {
	ImportPath string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rule forbids packages matching from to depend on packages matching to.
type rule struct {
	name    string
	from    func(string) bool
	to      func(string) bool
	allowed func(from, to string) bool
}

func is(p string) func(string) bool { return func(s string) bool { return s == module+p } }
func under(p string) func(string) bool {
	return func(s string) bool { return strings.HasPrefix(s, module+p+"/") }
}
func project(s string) bool { return strings.HasPrefix(s, module+"/") || s == module }

// engineImpl reports concrete engines (not the interface, not the suite).
func engineImpl(s string) bool {
	return under("/engines")(s) && !is("/engines/enginetest")(s)
}

var rules = []rule{
	{name: "the engine interface imports no project package", from: is("/engines"), to: project},
	{name: "an engine imports only the engine interface", from: engineImpl, to: project,
		allowed: func(_, to string) bool { return to == module+"/engines" }},
	{name: "dbcore does not name concrete engines", from: func(s string) bool { return is("/dbcore")(s) || under("/dbcore")(s) },
		to: func(s string) bool { return engineImpl(s) || is("/fs")(s) || is("/mountcmd")(s) }},
	{name: "fs does not name concrete engines or the CLI", from: func(s string) bool { return is("/fs")(s) || under("/fs")(s) },
		to: func(s string) bool { return engineImpl(s) || is("/mountcmd")(s) }},
	{name: "nothing but main imports mountcmd", from: func(s string) bool { return s != module && project(s) },
		to: is("/mountcmd")},
	{name: "only mountcmd, bench and tests import fs", from: func(s string) bool {
		return project(s) && s != module && !is("/mountcmd")(s) && !is("/bench")(s) && !under("/bench")(s) && !under("/internal")(s)
	}, to: is("/fs")},
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 3 {
		t.Fatalf("go list found only %d packages; is the module layout intact?", len(pkgs))
	}
	for _, r := range rules {
		for _, p := range pkgs {
			if !r.from(p.ImportPath) {
				continue
			}
			for _, d := range p.Deps {
				if d == p.ImportPath || !r.to(d) {
					continue
				}
				if r.allowed != nil && r.allowed(p.ImportPath, d) {
					continue
				}
				t.Errorf("%s: %s depends on %s", r.name, p.ImportPath, d)
			}
		}
	}
}

// TestRulesCatchViolations checks the rule table against known bad edges, so
// a rule that silently matches nothing fails here.
func TestRulesCatchViolations(t *testing.T) {
	bad := []struct{ from, to, rule string }{
		{module + "/engines", module + "/dbcore", "the engine interface imports no project package"},
		{module + "/engines/pebble", module + "/dbcore/revtree", "an engine imports only the engine interface"},
		{module + "/dbcore", module + "/engines/pebble", "dbcore does not name concrete engines"},
		{module + "/fs", module + "/engines/couchfile", "fs does not name concrete engines or the CLI"},
		{module + "/fs", module + "/mountcmd", "nothing but main imports mountcmd"},
		{module + "/dbcore", module + "/fs", "only mountcmd, bench and tests import fs"},
	}
	for _, b := range bad {
		caught := false
		for _, r := range rules {
			if r.from(b.from) && r.to(b.to) && (r.allowed == nil || !r.allowed(b.from, b.to)) && r.name == b.rule {
				caught = true
			}
		}
		if !caught {
			t.Errorf("rule %q does not catch %s → %s", b.rule, b.from, b.to)
		}
	}
}
