package enginetest

import (
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// checkerCases run an engine's Checker after every step of a varied
// workload, for engines that implement it (the harness also runs it after
// every case).
func checkerCases(p *env) []testCase {
	if !p.caps.checker {
		return nil
	}
	return []testCase{
		{"check_after_every_step", func(e *env) {
			steps := []func(){
				func() { fill(e, 100) },
				func() { e.w.apply(put("doc-0001", `{"v":2}`), del("doc-0002"), localPut("_local/a", `{}`)) },
				func() { e.w.apply(conflict("doc-0003", `{"c":1}`)) },
				func() { e.w.purge(purgeReq{"p1", "doc-0003", revs(leafRev(e, "doc-0003"))}) },
				func() { e.w.purge(purgeReq{"p2", "doc-0004", revs(leafRev(e, "doc-0004"))}) },
				func() { e.w.apply(localDel("_local/a")) },
				func() { e.w.replicate("deep", 300) },
				func() {
					if err := e.db.SetSecurity([]byte(`{"x":1}`)); err != nil {
						e.t.Fatal(err)
					}
				},
				func() {
					if _, ok := e.db.(engines.Compacter); ok {
						compact(e)
					}
				},
				func() {
					for i := range 20 {
						e.w.apply(put(fmt.Sprintf("doc-%04d", 10+i), `{"late":true}`))
					}
				},
				func() { e.reopen() },
			}
			for i, step := range steps {
				step()
				if err := e.db.(engines.Checker).Check(); err != nil {
					e.t.Fatalf("Check after step %d: %v", i, err)
				}
			}
		}},
	}
}
