package engines

// Rev is a revision identifier, "Pos-ID" in CouchDB's notation: Pos is the
// depth of the revision in its document's history (1 for the first edit) and
// ID is the revision hash, 32 lowercase hex digits for revisions couchfs
// creates, any non-empty string without '-' prefix rules for replicated ones.
type Rev struct {
	Pos uint64
	ID  string
}

// RevValue is what a revision tree stores for a revision whose body is still
// kept: every leaf has one; interior revisions keep theirs until compaction
// drops them.
type RevValue struct {
	Deleted bool   // the revision is a tombstone
	Ptr     uint64 // engine-assigned body pointer, from WriteDocBody
	Seq     uint64 // update sequence at which this revision was written
	Size    uint64 // external size: the length of the JSON body in bytes
}

// RevNode is one revision in a revision tree.
type RevNode struct {
	ID       string    // revision hash; the position is implied by depth
	Value    *RevValue // nil when the body is gone (stemmed, compacted, missing)
	Children []*RevNode
}

// RevBranch is a tree of revisions whose root sits at position Start. A
// document's history is a forest because stemming and replication can leave
// several roots.
type RevBranch struct {
	Start uint64
	Root  *RevNode
}

// RevTree is a document's revision forest, branches sorted by (Start, Root.ID).
// Children of a node are sorted by ID. Engines store it as given.
type RevTree []RevBranch

// DocInfo is everything an engine keeps about one document except its bodies:
// CouchDB's full_doc_info.
type DocInfo struct {
	ID        string
	UpdateSeq uint64  // the highest Seq of any revision: the doc's place in changes
	Deleted   bool    // the winning revision is a tombstone
	RevTree   RevTree // never empty for a stored document
	// ActiveSize is the stored size of the bodies of the leaves (engine
	// units); ExternalSize is the sum of their JSON lengths. dbcore sets
	// both; engines add them into SizeInfo.
	ActiveSize   uint64
	ExternalSize uint64
}

// LocalDoc is a non-replicated document (the _local/ namespace): no revision
// tree, no update sequence, not in changes. Rev is N of its "0-N" revision.
type LocalDoc struct {
	ID      string // including the "_local/" prefix
	Rev     uint64
	Body    []byte // JSON object bytes
	Deleted bool   // in a write: remove the local doc
}

// PurgeInfo records one purge request: document ID and the revisions removed.
type PurgeInfo struct {
	Seq  uint64 // purge sequence, assigned by dbcore, increasing by one
	UUID string // identifies the request, so a replayed request is idempotent
	ID   string
	Revs []Rev
}

// DocInfoPair is one document's change in WriteDocInfos. Old is nil for a new
// document; New is nil when a purge removed every revision of the document.
type DocInfoPair struct {
	Old *DocInfo
	New *DocInfo
}

// SizeInfo reports the space a database takes.
type SizeInfo struct {
	File     uint64 // bytes of the file or directory, including garbage; space reserved ahead of writes (zero tails) may be left out
	Active   uint64 // bytes of live data: what compaction would keep
	External uint64 // uncompressed JSON bytes of the live bodies
}

// FoldOptions bounds and orders a fold over a keyed index (document IDs,
// local document IDs). A zero FoldOptions folds everything in ascending order.
type FoldOptions struct {
	// Start, if set, is the first key to visit (inclusive): the lowest key
	// when ascending, the highest when Reverse.
	Start    string
	HasStart bool
	// End, if set, is the last key to visit, inclusive unless EndExclusive.
	End          string
	HasEnd       bool
	EndExclusive bool
	// Reverse folds in descending key order.
	Reverse bool
}
