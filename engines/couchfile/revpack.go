package couchfile

import (
	"encoding/hex"
)

// Revision IDs are 32 lowercase hex digits, and a compacted document's
// revision tree is mostly those: eleven revisions are 350 bytes that snappy
// cannot shrink (it finds repeats, and random hex has none). CouchDB keeps
// them as 16-byte binaries; this packing does the same to a node before
// snappy sees it, without knowing the codec: every run of a 0x20 byte (the
// varint length 32) followed by 32 lowercase hex digits becomes packEsc,
// 0x01 and the 16 bytes the digits spell. A literal packEsc becomes packEsc,
// 0x00. Unpacking restores the exact input, so the stored doc infos are
// still engines.AppendDocInfo's bytes.

const packEsc = 0xff

// packRevIDs appends the packed form of src to dst.
func packRevIDs(dst, src []byte) []byte {
	start := 0 // src[start:i] is copied as is when a special byte comes
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != 32 && c != packEsc {
			continue
		}
		dst = append(dst, src[start:i]...)
		switch {
		case c == 32 && i+33 <= len(src) && isLowerHex(src[i+1:i+33]):
			dst = append(dst, packEsc, 1)
			dst, _ = hex.AppendDecode(dst, src[i+1:i+33]) // cannot fail: checked above
			i += 32
		case c == packEsc:
			dst = append(dst, packEsc, 0)
		default:
			dst = append(dst, c)
		}
		start = i + 1
	}
	return append(dst, src[start:]...)
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// unpackRevIDs reverses packRevIDs.
func unpackRevIDs(src []byte) ([]byte, error) {
	out := make([]byte, 0, len(src)+len(src)/2)
	for i := 0; i < len(src); {
		c := src[i]
		if c != packEsc {
			out = append(out, c)
			i++
			continue
		}
		switch {
		case i+1 < len(src) && src[i+1] == 0:
			out = append(out, packEsc)
			i += 2
		case i+1 < len(src) && src[i+1] == 1 && i+18 <= len(src):
			out = append(out, 32)
			out = hex.AppendEncode(out, src[i+2:i+18])
			i += 18
		default:
			return nil, corruptf("bad revision-ID packing at %d", i)
		}
	}
	return out, nil
}
