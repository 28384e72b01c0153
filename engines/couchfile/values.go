package couchfile

import (
	"encoding/binary"
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// Keys and values of the trees:
//
//	id:         doc ID               → flags byte (1 = deleted) | active | external | engines.AppendDocInfo
//	seq:        update seq (8 B BE)  → doc ID
//	local:      local doc ID         → engines.AppendLocalDoc
//	purge-seq:  purge seq (8 B BE)   → engines.AppendPurgeInfo
//	purge-uuid: UUID | purge seq     → empty
//	attachment: attachment ID (8 B)  → offset | length | stored bytes | chunks
//
// The id value repeats the doc info's deleted flag and sizes in front so
// that a leaf's reduction needs no decoding of revision trees.

// seqKey is the big-endian form of a sequence, which sorts as numbers do.
func seqKey(seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return string(b[:])
}

func keySeq(k string) (uint64, error) {
	if len(k) != 8 {
		return 0, corruptf("sequence key of %d bytes", len(k))
	}
	return binary.BigEndian.Uint64([]byte(k)), nil
}

func appendIDValue(dst []byte, di *engines.DocInfo) []byte {
	var flags byte
	if di.Deleted {
		flags = 1
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, di.ActiveSize)
	dst = binary.AppendUvarint(dst, di.ExternalSize)
	return engines.AppendDocInfo(dst, di)
}

// idValue is the prefix of an id-tree value and its encoded doc info.
type idValue struct {
	deleted          bool
	active, external uint64
	docInfo          string
}

func splitIDValue(v string) (idValue, error) {
	if len(v) == 0 || v[0] > 1 {
		return idValue{}, corruptf("id value flags")
	}
	iv := idValue{deleted: v[0] == 1}
	i := 1
	for _, p := range []*uint64{&iv.active, &iv.external} {
		x, n := uvarintString(v[i:])
		if n <= 0 {
			return idValue{}, corruptf("id value sizes")
		}
		*p = x
		i += n
	}
	iv.docInfo = v[i:]
	return iv, nil
}

// uvarintString is binary.Uvarint over a string, so that values can stay
// substrings of their node.
func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -(i + 1)
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// decodeIDValue decodes an id-tree value and checks that its prefix agrees
// with the doc info and that the doc info belongs under key.
func decodeIDValue(key, v string) (*engines.DocInfo, error) {
	iv, err := splitIDValue(v)
	if err != nil {
		return nil, fmt.Errorf("doc %q: %w", key, err)
	}
	di, err := engines.DecodeDocInfo([]byte(iv.docInfo))
	if err != nil {
		return nil, fmt.Errorf("doc %q: %w", key, err)
	}
	if di.ID != key || di.Deleted != iv.deleted || di.ActiveSize != iv.active || di.ExternalSize != iv.external {
		return nil, corruptf("doc %q: value does not match its key or prefix", key)
	}
	return di, nil
}

func purgeUUIDKey(uuid string, seq uint64) string { return uuid + seqKey(seq) }

// attLoc is where an attachment's chunks are: they are contiguous from
// offset, since one WriteAttachment appends them back to back.
type attLoc struct {
	offset, length, stored, chunks uint64
}

func appendAttLoc(dst []byte, a attLoc) []byte {
	for _, v := range [...]uint64{a.offset, a.length, a.stored, a.chunks} {
		dst = binary.AppendUvarint(dst, v)
	}
	return dst
}

func decodeAttLoc(v string) (attLoc, error) {
	r := reader{b: []byte(v)}
	a := attLoc{offset: r.uvarint(), length: r.uvarint(), stored: r.uvarint(), chunks: r.uvarint()}
	if r.err != nil || len(r.b) != 0 {
		return attLoc{}, corruptf("attachment location")
	}
	return a, nil
}

// reduceValue is one leaf entry's contribution to its subtree's reduction.
func reduceValue(kind int, v string) (reduction, error) {
	switch kind {
	case treeID:
		iv, err := splitIDValue(v)
		if err != nil {
			return reduction{}, err
		}
		r := reduction{count: 1, active: iv.active, external: iv.external}
		if iv.deleted {
			r.del = 1
		}
		return r, nil
	case treeAtt:
		a, err := decodeAttLoc(v)
		if err != nil {
			return reduction{}, err
		}
		return reduction{count: 1, active: a.stored}, nil
	}
	return reduction{count: 1}, nil
}
