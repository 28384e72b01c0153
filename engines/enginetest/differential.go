package enginetest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/memengine"
)

// differentialOps is the length of the random operation sequence: enough to
// reach stemming, purges and compactions, small enough for a few seconds.
const differentialOps = 300

// differentialCases compare the engine with memengine under one seeded random
// sequence of operations. ENGINETEST_SEED replays a sequence.
func differentialCases(*env) []testCase {
	return []testCase{{"random_ops_vs_memengine", runDifferential}}
}

// side is one of the two databases under the same operations.
type side struct {
	eng  engines.Engine
	path string
	db   engines.DB
	w    *writer
}

func runDifferential(e *env) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ENGINETEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			e.t.Fatalf("ENGINETEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	e.t.Logf("seed %d (replay with ENGINETEST_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	oracleEng := memengine.New()
	oraclePath := filepath.Join(e.t.TempDir(), "oracle"+oracleEng.Ext())
	oracle := &side{eng: oracleEng, path: oraclePath}
	var err error
	if oracle.db, err = oracleEng.Create(oraclePath); err != nil {
		e.t.Fatal(err)
	}
	defer func() {
		if oracle.db != nil {
			oracle.db.Close()
		}
		oracleEng.Delete(oraclePath)
	}()
	oracle.w = newWriter(e.t, func() engines.DB { return oracle.db })
	subject := &side{eng: e.eng, path: e.path, db: e.db, w: e.w}
	sides := []*side{subject, oracle}
	for _, s := range sides {
		s.w.commit = false
	}

	var log []string
	defer func() {
		if e.t.Failed() {
			e.t.Logf("seed %d; last operations:\n%s", seed, strings.Join(log[max(0, len(log)-15):], "\n"))
		}
	}()
	ids := make([]string, 24)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%02d", i)
	}
	locals := []string{"_local/a", "_local/b", "_local/c"}
	_, compacter := e.db.(engines.Compacter)

	each := func(f func(s *side)) {
		for _, s := range sides {
			f(s)
		}
	}
	commit := func() {
		each(func(s *side) {
			if err := s.db.Commit(); err != nil {
				e.t.Fatalf("Commit: %v", err)
			}
		})
	}
	randomBatch := func() []op {
		var ops []op
		for range 1 + r.IntN(4) {
			id := ids[r.IntN(len(ids))]
			switch k := r.IntN(20); {
			case k < 11:
				ops = append(ops, put(id, fmt.Sprintf(`{"r":%d}`, r.IntN(1000))))
			case k < 14:
				ops = append(ops, del(id))
			case k < 15:
				ops = append(ops, conflict(id, fmt.Sprintf(`{"c":%d}`, r.IntN(1000))))
			case k < 18:
				ops = append(ops, localPut(locals[r.IntN(len(locals))], fmt.Sprintf(`{"l":%d}`, r.IntN(1000))))
			default:
				ops = append(ops, localDel(locals[r.IntN(len(locals))]))
			}
		}
		return ops
	}
	randomPurge := func() []purgeReq {
		var reqs []purgeReq
		for range 1 + r.IntN(3) {
			id := ids[r.IntN(len(ids))]
			req := purgeReq{uuid: fmt.Sprintf("u%d", r.Uint64()), id: id}
			if di := mustOpen(e, oracle.db, id); di != nil {
				paths := leafPaths(di.RevTree)
				p := paths[r.IntN(len(paths))]
				n := p[len(p)-1]
				if r.IntN(4) == 0 {
					n = p[r.IntN(len(p))] // maybe an interior revision: a no-op
				}
				req.revs = []engines.Rev{{Pos: n.pos, ID: n.id}}
			} else {
				req.revs = []engines.Rev{{Pos: 1, ID: "missing"}}
			}
			reqs = append(reqs, req)
		}
		return reqs
	}

	for i := range differentialOps {
		var desc string
		switch k := r.IntN(100); {
		case k < 50:
			ops := randomBatch()
			desc = fmt.Sprintf("batch %v", describeOps(ops))
			each(func(s *side) { s.w.apply(ops...) })
		case k < 65:
			desc = "commit"
			commit()
		case k < 70:
			desc = "reopen (uncommitted writes dropped)"
			each(func(s *side) {
				if err := s.db.Close(); err != nil {
					e.t.Fatalf("Close: %v", err)
				}
				if s.db, err = s.eng.Open(s.path); err != nil {
					e.t.Fatalf("Open: %v", err)
				}
			})
			e.db = subject.db
		case k < 80:
			reqs := randomPurge()
			desc = fmt.Sprintf("purge %v", reqs)
			each(func(s *side) { s.w.purge(reqs...) })
		case k < 84:
			seq := oracle.db.UpdateSeq() + uint64(r.IntN(3))
			desc = fmt.Sprintf("SetUpdateSeq(%d)", seq)
			each(func(s *side) {
				if err := s.db.SetUpdateSeq(seq); err != nil {
					e.t.Fatalf("SetUpdateSeq: %v", err)
				}
			})
		case k < 90:
			// dbcore commits its batch before changing a setting.
			commit()
			limit := uint64(2 + r.IntN(8))
			sec := fmt.Sprintf(`{"s":%d}`, r.IntN(100))
			desc = fmt.Sprintf("commit; SetRevsLimit(%d); SetSecurity(%s); SetPurgeInfosLimit(%d)", limit, sec, limit)
			each(func(s *side) {
				if err := s.db.SetRevsLimit(limit); err != nil {
					e.t.Fatal(err)
				}
				if err := s.db.SetSecurity([]byte(sec)); err != nil {
					e.t.Fatal(err)
				}
				if err := s.db.SetPurgeInfosLimit(limit); err != nil {
					e.t.Fatal(err)
				}
			})
		case k < 94 && compacter:
			commit()
			during := randomBatch()
			desc = fmt.Sprintf("commit; compaction with batch %v during it", describeOps(during))
			each(func(s *side) {
				c, err := s.db.(engines.Compacter).StartCompaction()
				if err != nil {
					e.t.Fatalf("StartCompaction: %v", err)
				}
				select {
				case <-c.Done():
				case <-time.After(compactionTimeout):
					e.t.Fatal("compaction did not finish")
				}
				if err := c.Err(); err != nil {
					e.t.Fatalf("compaction: %v", err)
				}
				s.w.apply(during...)
				if err := s.db.Commit(); err != nil {
					e.t.Fatal(err)
				}
				if err := c.Finish(); err != nil {
					e.t.Fatalf("Finish: %v", err)
				}
			})
		default:
			ops := []op{put(ids[r.IntN(len(ids))], fmt.Sprintf(`{"p":%d}`, i))}
			desc = fmt.Sprintf("batch %v", describeOps(ops))
			each(func(s *side) { s.w.apply(ops...) })
		}
		log = append(log, fmt.Sprintf("%3d %s", i, desc))
		diffSnapshots(e.t, fmt.Sprintf("op %d (%s): engine vs memengine", i, desc),
			capture(e.t, oracle.db, portable), capture(e.t, subject.db, portable))
		if e.t.Failed() {
			return
		}
	}
	commit()
	e.db = subject.db
}

func mustOpen(e *env, db engines.DB, id string) *engines.DocInfo {
	e.t.Helper()
	dis, err := db.OpenDocs([]string{id})
	if err != nil {
		e.t.Fatalf("OpenDocs: %v", err)
	}
	return dis[0]
}

func describeOps(ops []op) string {
	names := map[opKind]string{opPut: "put", opDelete: "del", opConflict: "conflict", opLocalPut: "lput", opLocalDelete: "ldel"}
	var parts []string
	for _, o := range ops {
		parts = append(parts, fmt.Sprintf("%s(%s)", names[o.kind], o.id))
	}
	return strings.Join(parts, " ")
}
