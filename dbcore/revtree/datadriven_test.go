package revtree

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// testCase is one block of a data-driven file:
//
//	command args…
//	input lines…
//	----
//	expected lines…
//	<blank line>
type testCase struct {
	comments []string // the '#' lines before the block, kept by -rewrite
	line     int
	cmd      string
	args     []string
	input    string
	expected string
}

func parseCases(t *testing.T, path string) []testCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var cases []testCase
	var comments []string
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.HasPrefix(l, "#") {
			comments = append(comments, l)
		}
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			i++
			continue
		}
		tc := testCase{line: i + 1, comments: comments}
		comments = nil
		f := strings.Fields(l)
		tc.cmd, tc.args = f[0], f[1:]
		i++
		var in []string
		for ; i < len(lines) && lines[i] != "----"; i++ {
			in = append(in, lines[i])
		}
		if i >= len(lines) {
			t.Fatalf("%s:%d: missing ----", path, tc.line)
		}
		i++
		var exp []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			exp = append(exp, lines[i])
		}
		tc.input = strings.Join(in, "\n")
		tc.expected = strings.Join(exp, "\n")
		cases = append(cases, tc)
	}
	return cases
}

func writeCases(path string, cases []testCase, outs []string) error {
	var b strings.Builder
	for i, tc := range cases {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, c := range tc.comments {
			b.WriteString(c + "\n")
		}
		b.WriteString(strings.Join(append([]string{tc.cmd}, tc.args...), " "))
		b.WriteString("\n")
		if tc.input != "" {
			b.WriteString(tc.input + "\n")
		}
		b.WriteString("----\n")
		if outs[i] != "" {
			b.WriteString(outs[i] + "\n")
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cases := parseCases(t, path)
			outs := make([]string, len(cases))
			var tree engines.RevTree
			for i, tc := range cases {
				outs[i] = strings.TrimRight(run(t, path, tc, &tree), "\n")
				if !*rewrite && outs[i] != tc.expected {
					t.Errorf("%s:%d: %s %s\ninput:\n%s\ngot:\n%s\nwant:\n%s", path, tc.line, tc.cmd,
						strings.Join(tc.args, " "), tc.input, outs[i], tc.expected)
				}
				if err := checkInvariants(tree); err != nil {
					t.Errorf("%s:%d: invariant: %v\n%s", path, tc.line, err, dump(tree))
				}
			}
			if *rewrite {
				if err := writeCases(path, cases, outs); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// run executes one command against the file's current tree.
func run(t *testing.T, path string, tc testCase, tree *engines.RevTree) string {
	t.Helper()
	fail := func(format string, args ...any) string {
		t.Fatalf("%s:%d: %s", path, tc.line, fmt.Sprintf(format, args...))
		return ""
	}
	var b strings.Builder
	switch tc.cmd {
	case "build":
		tr, err := parseTree(tc.input)
		if err != nil {
			return fail("%v", err)
		}
		*tree = tr
		b.WriteString(dump(tr))
	case "merge":
		// One path per line, oldest revision first.
		for _, l := range strings.Split(tc.input, "\n") {
			p, err := parsePath(l)
			if err != nil {
				return fail("%v", err)
			}
			before := *tree
			nt, res := Merge(*tree, p)
			again, res2 := Merge(nt, p)
			if res2 != InternalNode || !Equal(again, nt) {
				return fail("merge of %q is not idempotent: %v", l, res2)
			}
			if Equal(nt, before) && !sameTree(nt, before) {
				return fail("merge of %q changed nothing but did not return its input", l)
			}
			*tree = nt
			fmt.Fprintf(&b, "%s\n", res)
		}
		b.WriteString(dump(*tree))
	case "stem":
		limit, err := strconv.ParseUint(tc.args[0], 10, 64)
		if err != nil {
			return fail("stem limit: %v", err)
		}
		nt := Stem(*tree, limit)
		if sameTree(nt, *tree) {
			b.WriteString("unchanged\n")
		}
		*tree = nt
		b.WriteString(dump(nt))
	case "leaves":
		for _, l := range Leaves(*tree) {
			fmt.Fprintf(&b, "%s%s path=%s\n", FormatRev(l.Rev), fmtValue(l.Value), fmtRevs(l.Path))
		}
	case "winner":
		w, ok := Winner(*tree)
		if !ok {
			b.WriteString("none\n")
			break
		}
		fmt.Fprintf(&b, "%s%s path=%s\n", FormatRev(w.Rev), fmtValue(w.Value), fmtRevs(w.Path))
		fmt.Fprintf(&b, "conflicts=%s\n", fmtRevs(Conflicts(*tree)))
		fmt.Fprintf(&b, "deleted_conflicts=%s\n", fmtRevs(DeletedConflicts(*tree)))
		a, e := Sizes(*tree)
		fmt.Fprintf(&b, "sizes active=%d external=%d\n", a, e)
	case "remove":
		revs := mustRevs(t, tc.args)
		nt, removed := RemoveLeaves(*tree, revs)
		fmt.Fprintf(&b, "removed=%s\n", fmtRevs(removed))
		if sameTree(nt, *tree) {
			b.WriteString("unchanged\n")
		}
		*tree = nt
		b.WriteString(dump(nt))
	case "missing":
		fmt.Fprintf(&b, "%s\n", fmtRevs(FindMissing(*tree, mustRevs(t, tc.args))))
	case "find":
		for _, r := range mustRevs(t, tc.args) {
			n, p, ok := Find(*tree, r)
			if !ok {
				fmt.Fprintf(&b, "%s: not found leaf=%v\n", FormatRev(r), IsLeaf(*tree, r))
				continue
			}
			fmt.Fprintf(&b, "%s:%s children=%d leaf=%v path=%s\n", FormatRev(r), fmtValue(n.Value),
				len(n.Children), IsLeaf(*tree, r), fmtRevs(p))
		}
	default:
		return fail("unknown command %q", tc.cmd)
	}
	return b.String()
}

func sameTree(a, b engines.RevTree) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func mustRevs(t *testing.T, ss []string) []engines.Rev {
	t.Helper()
	var out []engines.Rev
	for _, s := range ss {
		r, err := ParseRev(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func fmtRevs(rs []engines.Rev) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = FormatRev(r)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// Values are written "=S" (live) or "=Sd" (deleted): Seq and Ptr S, Size
// 100*S.
func fmtValue(v *engines.RevValue) string {
	if v == nil {
		return ""
	}
	d := ""
	if v.Deleted {
		d = "d"
	}
	return fmt.Sprintf(" =%d%s", v.Seq, d)
}

func parseValue(s string) (*engines.RevValue, error) {
	del := strings.HasSuffix(s, "d")
	s = strings.TrimSuffix(s, "d")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("value %q: %v", s, err)
	}
	return &engines.RevValue{Deleted: del, Ptr: n, Seq: n, Size: 100 * n}, nil
}

// parseRevToken parses "P-id" or "P-id=S[d]".
func parseRevToken(tok string) (engines.Rev, *engines.RevValue, error) {
	var v *engines.RevValue
	if i := strings.IndexByte(tok, '='); i >= 0 {
		var err error
		if v, err = parseValue(tok[i+1:]); err != nil {
			return engines.Rev{}, nil, err
		}
		tok = tok[:i]
	}
	r, err := ParseRev(tok)
	return r, v, err
}

// parsePath reads "1-a 2-b 3-c=3" (oldest first) into a linear branch.
func parsePath(l string) (engines.RevBranch, error) {
	toks := strings.Fields(l)
	if len(toks) == 0 {
		return engines.RevBranch{}, fmt.Errorf("empty path")
	}
	var root, prev *engines.RevNode
	var start uint64
	for i, tok := range toks {
		r, v, err := parseRevToken(tok)
		if err != nil {
			return engines.RevBranch{}, err
		}
		n := &engines.RevNode{ID: r.ID, Value: v}
		if i == 0 {
			root, start = n, r.Pos
		} else {
			if r.Pos != start+uint64(i) {
				return engines.RevBranch{}, fmt.Errorf("path %q: positions not consecutive", l)
			}
			prev.Children = []*engines.RevNode{n}
		}
		prev = n
	}
	return engines.RevBranch{Start: start, Root: root}, nil
}

// parseTree reads the dump format: one revision per line, indented two
// spaces per level below its branch root, children in any order.
func parseTree(s string) (engines.RevTree, error) {
	type open struct {
		n   *engines.RevNode
		pos uint64
	}
	var tree engines.RevTree
	var stack []open
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		trimmed := strings.TrimLeft(l, " ")
		level := (len(l) - len(trimmed)) / 2
		f := strings.Fields(trimmed)
		tok := f[0]
		if len(f) > 1 {
			tok += f[1]
		}
		r, v, err := parseRevToken(tok)
		if err != nil {
			return nil, err
		}
		n := &engines.RevNode{ID: r.ID, Value: v}
		if level > len(stack) {
			return nil, fmt.Errorf("line %q: indented too far", l)
		}
		stack = stack[:level]
		if level == 0 {
			tree = append(tree, engines.RevBranch{Start: r.Pos, Root: n})
		} else {
			parent := stack[level-1]
			if r.Pos != parent.pos+1 {
				return nil, fmt.Errorf("line %q: position should be %d", l, parent.pos+1)
			}
			parent.n.Children = append(parent.n.Children, n)
		}
		stack = append(stack, open{n, r.Pos})
	}
	normalize(tree)
	return tree, nil
}

// normalize sorts a hand-built tree the way the package keeps trees.
func normalize(t engines.RevTree) {
	var walk func(n *engines.RevNode)
	walk = func(n *engines.RevNode) {
		for i := 1; i < len(n.Children); i++ {
			for j := i; j > 0 && n.Children[j].ID < n.Children[j-1].ID; j-- {
				n.Children[j], n.Children[j-1] = n.Children[j-1], n.Children[j]
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, br := range t {
		walk(br.Root)
	}
	sortBranches(t)
}

func dump(t engines.RevTree) string {
	if len(t) == 0 {
		return "(empty)\n"
	}
	var b strings.Builder
	var walk func(n *engines.RevNode, pos uint64, level int)
	walk = func(n *engines.RevNode, pos uint64, level int) {
		fmt.Fprintf(&b, "%s%d-%s%s\n", strings.Repeat("  ", level), pos, n.ID, fmtValue(n.Value))
		for _, c := range n.Children {
			walk(c, pos+1, level+1)
		}
	}
	for _, br := range t {
		walk(br.Root, br.Start, 0)
	}
	return b.String()
}

// checkInvariants verifies the forest order and that no revision appears
// twice.
func checkInvariants(t engines.RevTree) error {
	seen := map[engines.Rev]bool{}
	var walk func(n *engines.RevNode, pos uint64) error
	walk = func(n *engines.RevNode, pos uint64) error {
		r := engines.Rev{Pos: pos, ID: n.ID}
		if seen[r] {
			return fmt.Errorf("%s appears twice", FormatRev(r))
		}
		seen[r] = true
		for i, c := range n.Children {
			if i > 0 && n.Children[i-1].ID >= c.ID {
				return fmt.Errorf("children of %s not sorted", FormatRev(r))
			}
			if err := walk(c, pos+1); err != nil {
				return err
			}
		}
		if len(n.Children) == 0 && n.Value == nil {
			return fmt.Errorf("leaf %s has no value", FormatRev(r))
		}
		return nil
	}
	for i, br := range t {
		if br.Root == nil {
			return fmt.Errorf("branch %d has no root", i)
		}
		if i > 0 {
			p := t[i-1]
			if p.Start > br.Start || (p.Start == br.Start && p.Root.ID >= br.Root.ID) {
				return fmt.Errorf("branches %d and %d out of order", i-1, i)
			}
		}
		if err := walk(br.Root, br.Start); err != nil {
			return err
		}
	}
	return nil
}
