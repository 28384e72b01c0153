package fs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// askEveryTime is the entry or attribute timeout of a reply the kernel must
// not cache at all: a conflicts directory, whose existence changes with
// every write to its document; settings files, which change with every
// write to the database; attributes that describe a revision other than
// the current one. go-fuse replaces a zero timeout a node sets by the
// mount's default, so nodes set this instead and exact turns it into the
// zero the kernel honours: the entry or attributes are looked up again on
// every use, without any notification (which could wait on the kernel:
// pagecache.go).
const askEveryTime = time.Nanosecond

// exactEntry turns askEveryTime timeouts in a reply carrying an entry into 0.
func exactEntry(out *fuse.EntryOut) {
	if out.EntryValid == 0 && out.EntryValidNsec == uint32(askEveryTime) {
		out.EntryValidNsec = 0
	}
	if out.AttrValid == 0 && out.AttrValidNsec == uint32(askEveryTime) {
		out.AttrValidNsec = 0
	}
}

// exactAttr turns an askEveryTime timeout in an attribute reply into 0.
func exactAttr(out *fuse.AttrOut) {
	if out.AttrValid == 0 && out.AttrValidNsec == uint32(askEveryTime) {
		out.AttrValidNsec = 0
	}
}
