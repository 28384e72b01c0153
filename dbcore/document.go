package dbcore

import (
	"encoding/json"
	"strconv"

	"github.com/couchfs/couchfs/dbcore/jsondoc"
)

// Doc is one revision of a document, as read or as written.
//
// A Doc is a plain value: the goroutine that holds it owns it. JSON and Size
// cache nothing, so fields may be changed between calls.
type Doc struct {
	ID string
	// Rev is "N-<32 hex>" for a document, "0-N" for a local document. In
	// an interactive UpdateDocs it is the revision being edited ("" to
	// create); in a replicated one, the revision being stored.
	Rev     string
	Deleted bool
	// Body is a compact JSON object without _id, _rev, _deleted and
	// _revisions. nil is taken as {}.
	Body []byte
	// Revisions is the history of a replicated edit: revision ids, newest
	// first, like _revisions.ids. Empty means just Rev.
	Revisions []string
	// Conflicts lists, on a Doc returned by Get, the live losing leaves,
	// winner order first.
	Conflicts []string
}

// JSON renders the document the way the filesystem serves it: "_id",
// "_rev", "_deleted": true for a tombstone, then the body's fields in stored
// order, indented by two spaces, with a trailing newline.
func (d *Doc) JSON() []byte { return jsondoc.Render(d.ID, d.Rev, d.Deleted, d.body()) }

// Size returns len(d.JSON()) without rendering.
func (d *Doc) Size() int { return jsondoc.RenderedSize(d.ID, d.Rev, d.Deleted, d.body()) }

func (d *Doc) body() []byte {
	if len(d.Body) == 0 {
		return emptyBody
	}
	return d.Body
}

var emptyBody = []byte("{}")

// Change is one row of a database's changes feed: a document's latest
// update, in update-sequence order.
type Change struct {
	Seq     uint64
	ID      string
	Rev     string // the winning revision
	Deleted bool   // the winning revision is a tombstone
}

// JSON renders the change row as CouchDB's _changes does, one line:
// {"seq":N,"id":"…","changes":[{"rev":"…"}]} plus "deleted":true for a
// tombstone, and a trailing newline.
func (c Change) JSON() []byte {
	b := make([]byte, 0, 64+len(c.ID)+len(c.Rev))
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, c.Seq, 10)
	b = append(b, `,"id":`...)
	b = jsondoc.AppendString(b, c.ID)
	b = append(b, `,"changes":[{"rev":`...)
	b = jsondoc.AppendString(b, c.Rev)
	b = append(b, `}]`...)
	if c.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	return append(b, "}\n"...)
}

// DocRow is one row of AllDocs or LocalDocs: enough to list and stat a
// document without reading its body.
type DocRow struct {
	ID      string
	Rev     string
	Deleted bool
	Seq     uint64 // 0 for local documents
	Size    int    // len of the document's rendered JSON (Doc.JSON)
}

// Info describes a database, CouchDB's GET /db.
type Info struct {
	DBName         string `json:"db_name"`
	Engine         string `json:"engine"`
	DocCount       uint64 `json:"doc_count"`
	DocDelCount    uint64 `json:"doc_del_count"`
	UpdateSeq      uint64 `json:"update_seq"`
	PurgeSeq       uint64 `json:"purge_seq"`
	CompactRunning bool   `json:"compact_running"`
	Sizes          Sizes  `json:"sizes"`
	RevsLimit      uint64 `json:"revs_limit"`
	UUID           string `json:"uuid"`
}

// Sizes are a database's sizes in bytes: on disk (file), of live data as
// stored (active) and of live documents as rendered JSON (external).
type Sizes struct {
	File     uint64 `json:"file"`
	External uint64 `json:"external"`
	Active   uint64 `json:"active"`
}

// JSON renders the info as indented JSON with a trailing newline.
func (i Info) JSON() []byte {
	b, err := json.MarshalIndent(i, "", "  ")
	if err != nil {
		// Info holds only strings, numbers and bools.
		panic(err)
	}
	return append(b, '\n')
}
