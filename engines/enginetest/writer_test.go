package enginetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// path builds a root-to-leaf path of ids starting at pos, every node with a
// value whose Seq is its position.
func path(pos uint64, ids ...string) []pathNode {
	var p []pathNode
	for i, id := range ids {
		p = append(p, pathNode{pos + uint64(i), id, &engines.RevValue{Seq: pos + uint64(i)}})
	}
	return p
}

func shape(tree engines.RevTree) string {
	var s string
	var node func(n *engines.RevNode) string
	node = func(n *engines.RevNode) string {
		out := n.ID
		if len(n.Children) > 0 {
			out += "{"
			for i, c := range n.Children {
				if i > 0 {
					out += ","
				}
				out += node(c)
			}
			out += "}"
		}
		return out
	}
	for _, b := range tree {
		s += fmt.Sprintf("[%d:%s]", b.Start, node(b.Root))
	}
	return s
}

func TestBuildTree(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths [][]pathNode
		want  string
	}{
		{"linear", [][]pathNode{path(1, "a", "b", "c")}, "[1:a{b{c}}]"},
		{"conflict_children_sorted", [][]pathNode{path(1, "a", "z"), path(1, "a", "b")}, "[1:a{b,z}]"},
		{"prefix_path_merges", [][]pathNode{path(1, "a", "b"), path(1, "a", "b", "c")}, "[1:a{b{c}}]"},
		{"forest_sorted", [][]pathNode{path(3, "x"), path(1, "b"), path(1, "a")}, "[1:a][1:b][3:x]"},
		{"stemmed_root_under_parent", [][]pathNode{path(2, "b", "c"), path(1, "a", "b", "d")}, "[1:a{b{c,d}}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := buildTree(tc.paths)
			if got := shape(tree); got != tc.want {
				t.Fatalf("buildTree = %s, want %s", got, tc.want)
			}
			if again := shape(buildTree(leafPaths(tree))); again != tc.want {
				t.Fatalf("buildTree(leafPaths) = %s, want %s", again, tc.want)
			}
		})
	}
}

func TestStem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths [][]pathNode
		limit uint64
		want  string
	}{
		{"under_limit", [][]pathNode{path(1, "a", "b")}, 5, "[1:a{b}]"},
		{"linear", [][]pathNode{path(1, "a", "b", "c", "d", "e")}, 2, "[4:d{e}]"},
		{"shared_ancestor_kept", [][]pathNode{path(1, "a", "b", "c"), path(1, "a", "b", "d")}, 2, "[2:b{c,d}]"},
		{"splits_into_two_roots", [][]pathNode{path(1, "a", "b", "c", "d"), path(1, "a", "e")}, 2, "[1:a{e}][3:c{d}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shape(stem(buildTree(tc.paths), tc.limit)); got != tc.want {
				t.Fatalf("stem(%d) = %s, want %s", tc.limit, got, tc.want)
			}
		})
	}
}

func TestLeavesWinnerFirst(t *testing.T) {
	live := func(pos uint64, ids ...string) []pathNode { return path(pos, ids...) }
	dead := func(pos uint64, ids ...string) []pathNode {
		p := path(pos, ids...)
		p[len(p)-1].value = &engines.RevValue{Deleted: true}
		return p
	}
	for _, tc := range []struct {
		name  string
		paths [][]pathNode
		want  string // winner id
	}{
		{"live_beats_longer_deleted", [][]pathNode{dead(1, "a", "b", "c"), live(1, "x")}, "x"},
		{"longer_wins", [][]pathNode{live(1, "a", "b"), live(1, "z")}, "b"},
		{"higher_id_breaks_tie", [][]pathNode{live(1, "a", "b"), live(1, "a", "c")}, "c"},
		{"all_deleted_longest", [][]pathNode{dead(1, "a", "b"), dead(1, "z")}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := leaves(buildTree(tc.paths))[0].id; got != tc.want {
				t.Fatalf("winner %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	if got := fmt.Sprint(span(3, 1), span(1, 3), span(2, 2)); got != "[3 2 1] [1 2 3] [2]" {
		t.Fatalf("span = %s", got)
	}
}

func TestDocBody(t *testing.T) {
	a, b := DocBody(7), DocBody(7)
	if string(a) != string(b) || len(a) < 900 || len(a) > 1100 || !json.Valid(a) {
		t.Fatalf("DocBody(7) is %d bytes, not deterministic or not JSON: %s", len(a), a)
	}
	if string(DocBody(8)) == string(a) {
		t.Fatal("DocBody gives two documents the same body")
	}
}
