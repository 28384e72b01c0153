package enginetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// renderMode says which details of stored values a snapshot keeps.
type renderMode int

const (
	// exact keeps body pointers and active sizes: the same database must
	// answer identically after a reopen.
	exact renderMode = iota
	// portable resolves body pointers to the bodies and drops UUID, active
	// sizes and file sizes: what two engines given the same operations, or
	// one database before and after compaction, must agree on.
	portable
	// compactedView is portable with the values of interior revisions left
	// out, since compaction drops them.
	compactedView
)

// snapshot is everything observable about a database, rendered as text so
// that differences print readably.
type snapshot struct {
	getters []string
	docs    []string
	locals  []string
	changes []string
	purges  []string
	// purgeSeqs are the sequences of purges, for trimming.
	purgeSeqs []uint64
}

// capture reads every getter and fold of db and checks that they agree with
// each other (folds ordered, changes one per document, counters and sizes
// matching the documents, every stored value's body readable).
func capture(t testing.TB, db engines.DB, mode renderMode) snapshot {
	t.Helper()
	var s snapshot
	si := db.SizeInfo()
	s.getters = []string{
		fmt.Sprintf("UpdateSeq=%d", db.UpdateSeq()),
		fmt.Sprintf("PurgeSeq=%d", db.PurgeSeq()),
		fmt.Sprintf("DocCount=%d", db.DocCount()),
		fmt.Sprintf("DelDocCount=%d", db.DelDocCount()),
		fmt.Sprintf("RevsLimit=%d", db.RevsLimit()),
		fmt.Sprintf("PurgeInfosLimit=%d", db.PurgeInfosLimit()),
		fmt.Sprintf("Security=%s", db.Security()),
		fmt.Sprintf("SizeInfo.External=%d", si.External),
	}
	if mode == exact {
		s.getters = append(s.getters, "UUID="+db.UUID())
	}

	var docs []*engines.DocInfo
	if err := db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		docs = append(docs, di)
		return nil
	}); err != nil {
		t.Fatalf("FoldDocs: %v", err)
	}
	ids := make([]string, len(docs))
	var live, deleted, external, maxSeq uint64
	for i, di := range docs {
		ids[i] = di.ID
		s.docs = append(s.docs, renderDoc(t, db, di, mode))
		if di.Deleted {
			deleted++
		} else {
			live++
		}
		external += di.ExternalSize
		maxSeq = max(maxSeq, di.UpdateSeq)
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("FoldDocs not in strictly ascending ID order: %q", ids)
	}
	if live != db.DocCount() || deleted != db.DelDocCount() {
		t.Errorf("DocCount/DelDocCount = %d/%d, but FoldDocs sees %d live and %d deleted", db.DocCount(), db.DelDocCount(), live, deleted)
	}
	if external != si.External {
		t.Errorf("SizeInfo.External = %d, but the doc infos' ExternalSize sum to %d", si.External, external)
	}
	if maxSeq > db.UpdateSeq() {
		t.Errorf("UpdateSeq %d is below a document's UpdateSeq %d", db.UpdateSeq(), maxSeq)
	}
	var rev []string
	if err := db.FoldDocs(engines.FoldOptions{Reverse: true}, func(di *engines.DocInfo) error {
		rev = append(rev, di.ID)
		return nil
	}); err != nil {
		t.Fatalf("FoldDocs reverse: %v", err)
	}
	slices.Reverse(rev)
	if !slices.Equal(rev, ids) {
		t.Errorf("reverse FoldDocs visits %q, forward %q", rev, ids)
	}
	opened, err := db.OpenDocs(ids)
	if err != nil {
		t.Fatalf("OpenDocs: %v", err)
	}
	for i, di := range opened {
		if di == nil {
			t.Errorf("OpenDocs(%q) = nil, but FoldDocs visits it", ids[i])
			continue
		}
		if r := renderDoc(t, db, di, mode); r != s.docs[i] {
			t.Errorf("OpenDocs(%q) = %s, FoldDocs gave %s", ids[i], clip(r), clip(s.docs[i]))
		}
	}

	seqOf := map[string]uint64{}
	byID := map[string]*engines.DocInfo{}
	for _, di := range docs {
		seqOf[di.ID] = di.UpdateSeq
		byID[di.ID] = di
	}
	var last uint64
	seen := map[string]bool{}
	if err := db.FoldChanges(0, func(di *engines.DocInfo) error {
		k := changeKey(di)
		s.changes = append(s.changes, k)
		if di.UpdateSeq <= last {
			t.Errorf("FoldChanges: %s after seq %d", k, last)
		}
		last = di.UpdateSeq
		if seen[di.ID] {
			t.Errorf("FoldChanges visits %q twice", di.ID)
		}
		seen[di.ID] = true
		if want, ok := seqOf[di.ID]; !ok || want != di.UpdateSeq {
			t.Errorf("FoldChanges visits %s, the doc is at seq %d (exists %v)", k, want, ok)
		} else if got, want := changeSummary(di), changeSummary(byID[di.ID]); got != want {
			t.Errorf("FoldChanges gives %s, FoldDocs %s", got, want)
		}
		return nil
	}); err != nil {
		t.Fatalf("FoldChanges: %v", err)
	}
	if len(s.changes) != len(docs) {
		t.Errorf("FoldChanges visits %d docs, FoldDocs %d", len(s.changes), len(docs))
	}
	if n, err := db.CountChangesSince(0); err != nil || n != uint64(len(s.changes)) {
		t.Errorf("CountChangesSince(0) = %d, %v; FoldChanges visits %d", n, err, len(s.changes))
	}

	var lids []string
	if err := db.FoldLocalDocs(engines.FoldOptions{}, func(ld *engines.LocalDoc) error {
		lids = append(lids, ld.ID)
		s.locals = append(s.locals, renderLocal(ld))
		return nil
	}); err != nil {
		t.Fatalf("FoldLocalDocs: %v", err)
	}
	if !slices.IsSorted(lids) || len(slices.Compact(slices.Clone(lids))) != len(lids) {
		t.Errorf("FoldLocalDocs not in strictly ascending ID order: %q", lids)
	}
	lds, err := db.OpenLocalDocs(lids)
	if err != nil {
		t.Fatalf("OpenLocalDocs: %v", err)
	}
	for i, ld := range lds {
		if ld == nil || renderLocal(ld) != s.locals[i] {
			t.Errorf("OpenLocalDocs(%q) disagrees with FoldLocalDocs: %v vs %s", lids[i], ld, s.locals[i])
		}
	}

	var lastPurge uint64
	if err := db.FoldPurgeInfos(0, func(pi engines.PurgeInfo) error {
		if pi.Seq <= lastPurge || pi.Seq > db.PurgeSeq() {
			t.Errorf("FoldPurgeInfos: seq %d after %d (PurgeSeq %d)", pi.Seq, lastPurge, db.PurgeSeq())
		}
		lastPurge = pi.Seq
		s.purges = append(s.purges, renderPurge(pi))
		s.purgeSeqs = append(s.purgeSeqs, pi.Seq)
		return nil
	}); err != nil {
		t.Fatalf("FoldPurgeInfos: %v", err)
	}
	return s
}

func changeKey(di *engines.DocInfo) string { return fmt.Sprintf("%s@%d", di.ID, di.UpdateSeq) }

func renderLocal(ld *engines.LocalDoc) string {
	return fmt.Sprintf("%s 0-%d %s", ld.ID, ld.Rev, ld.Body)
}

func renderPurge(pi engines.PurgeInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %q", pi.Seq, pi.UUID, pi.ID)
	for _, r := range pi.Revs {
		fmt.Fprintf(&b, " %d-%s", r.Pos, r.ID)
	}
	return b.String()
}

// renderDoc renders a doc info with the bodies of every revision that has a
// value; a body that cannot be read is an error.
func renderDoc(t testing.TB, db engines.DB, di *engines.DocInfo, mode renderMode) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%q seq=%d del=%v ext=%d", di.ID, di.UpdateSeq, di.Deleted, di.ExternalSize)
	if mode == exact {
		fmt.Fprintf(&b, " act=%d", di.ActiveSize)
	}
	if len(di.RevTree) == 0 {
		t.Errorf("doc %q has an empty rev tree", di.ID)
	}
	type frame struct {
		n     *engines.RevNode
		pos   uint64
		close bool
	}
	for _, br := range di.RevTree {
		fmt.Fprintf(&b, " [%d:", br.Start)
		stack := []frame{{n: br.Root, pos: br.Start}}
		for len(stack) > 0 {
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.close {
				b.WriteString("}")
				continue
			}
			n := f.n
			fmt.Fprintf(&b, " %s", n.ID)
			if v := n.Value; v != nil && (mode != compactedView || len(n.Children) == 0) {
				fmt.Fprintf(&b, "(del=%v seq=%d size=%d", v.Deleted, v.Seq, v.Size)
				if mode == exact {
					fmt.Fprintf(&b, " ptr=%d", v.Ptr)
				}
				body, err := db.ReadDocBody(v.Ptr)
				if err != nil {
					t.Errorf("doc %q rev %d-%s: ReadDocBody(%d): %v", di.ID, f.pos, n.ID, v.Ptr, err)
				}
				fmt.Fprintf(&b, " %s)", body)
			} else if len(n.Children) == 0 {
				t.Errorf("doc %q: leaf %d-%s has no value", di.ID, f.pos, n.ID)
			}
			if len(n.Children) > 0 {
				b.WriteString("{")
				stack = append(stack, frame{close: true})
				for i := len(n.Children) - 1; i >= 0; i-- {
					stack = append(stack, frame{n: n.Children[i], pos: f.pos + 1})
				}
			}
		}
		b.WriteString("]")
	}
	return b.String()
}

// diffSnapshots reports every part of want that got differs in.
func diffSnapshots(t testing.TB, what string, want, got snapshot) {
	t.Helper()
	diffLists(t, what+": getters", want.getters, got.getters)
	diffLists(t, what+": docs", want.docs, got.docs)
	diffLists(t, what+": local docs", want.locals, got.locals)
	diffLists(t, what+": changes", want.changes, got.changes)
	diffLists(t, what+": purge infos", want.purges, got.purges)
}

func diffLists(t testing.TB, what string, want, got []string) {
	t.Helper()
	if slices.Equal(want, got) {
		return
	}
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("%s differ at %d of %d/%d:\n want %s\n got  %s", what, i, len(want), len(got), clip(w), clip(g))
			return
		}
	}
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// changeSummary renders what FoldChanges must agree on with FoldDocs: every
// field and the tree's leaves, since an engine may keep only those in its
// changes index (engines.DB.FoldChanges).
func changeSummary(di *engines.DocInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%d deleted=%v active=%d external=%d leaves:", di.ID, di.UpdateSeq, di.Deleted, di.ActiveSize, di.ExternalSize)
	for _, l := range leaves(di.RevTree) {
		fmt.Fprintf(&b, " %d-%s", l.pos, l.id)
		if v := l.value; v != nil {
			fmt.Fprintf(&b, "{del=%v ptr=%d seq=%d size=%d}", v.Deleted, v.Ptr, v.Seq, v.Size)
		}
	}
	return b.String()
}
