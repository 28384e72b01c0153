package revtree

import "github.com/couchfs/couchfs/engines"

// PathFromRevs builds the linear branch of a document edit, CouchDB's
// couch_doc:to_path: ids are revision ids newest first (the order of
// _revisions.ids) and start is the position of ids[0]. The result starts at
// start-len(ids)+1 and runs from the oldest id down to ids[0], which carries
// leaf; every ancestor has a nil Value.
//
// Positions below 1 do not exist, so ids beyond the first start entries are
// ignored (callers validating _revisions reject such input first). With no
// id left the result is the zero RevBranch, which Merge treats as empty.
func PathFromRevs(start uint64, ids []string, leaf *engines.RevValue) engines.RevBranch {
	if uint64(len(ids)) > start {
		ids = ids[:start]
	}
	n := len(ids)
	if n == 0 {
		return engines.RevBranch{}
	}
	nodes := make([]engines.RevNode, n)
	kids := make([]*engines.RevNode, n-1)
	// nodes[i] holds ids[i]; ids[n-1] is the root.
	for i := range n {
		nodes[i].ID = ids[i]
		if i > 0 {
			kids[i-1] = &nodes[i-1]
			nodes[i].Children = kids[i-1 : i : i]
		}
	}
	nodes[0].Value = leaf
	return engines.RevBranch{Start: start - uint64(n) + 1, Root: &nodes[n-1]}
}
