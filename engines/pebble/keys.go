package pebble

import (
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"

	"github.com/couchfs/couchfs/engines"
)

// A database keeps every structure in one Pebble key space, partitioned by a
// one-byte prefix. Fixed-width big-endian integers make the byte order of
// sequence and pointer keys their numeric order.
const (
	prefixBody      byte = 'b' // body pointer (be64) → raw JSON body
	prefixDoc       byte = 'd' // document ID → engines.AppendDocInfo
	prefixLocal     byte = 'l' // local document ID → engines.AppendLocalDoc
	prefixState     byte = 'm' // state record number (be64) → state; see stateLog
	prefixPurge     byte = 'p' // purge sequence (be64) → engines.AppendPurgeInfo
	prefixSeq       byte = 's' // update sequence (be64) → engines.AppendDocInfo of changesInfo: the doc info with its tree's leaves, so the changes feed needs no lookups
	prefixPurgeUUID byte = 'u' // purge request UUID → purge sequence (be64)
)

// stateKey is the state record a compaction writes into its target: it
// sorts before every record of the stateLog, which supersede it.
var stateKey = []byte{prefixState}

func stringKey(prefix byte, s string) []byte {
	return appendStringKey(make([]byte, 0, 1+len(s)), prefix, s)
}

func uintKey(prefix byte, v uint64) []byte { return appendUintKey(make([]byte, 0, 9), prefix, v) }

func appendStringKey(dst []byte, prefix byte, s string) []byte {
	return append(append(dst, prefix), s...)
}

func appendUintKey(dst []byte, prefix byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefix), v)
}

// keyArena cuts the keys of one write from a single allocation. Its
// capacity is fixed up front, so no key moves when a later one is added.
type keyArena struct{ buf []byte }

// newKeyArena sizes an arena for the keys one WriteDocInfos keeps: a body
// key per pending body, a doc key and two changes keys per pair.
func newKeyArena(bodies int, pairs []engines.DocInfoPair) keyArena {
	n := 9*bodies + 19*len(pairs)
	for _, p := range pairs {
		n += len(pairID(p))
	}
	return keyArena{buf: make([]byte, 0, n)}
}

func (a *keyArena) str(prefix byte, s string) []byte {
	return a.cut(appendStringKey(a.buf, prefix, s))
}

func (a *keyArena) uint(prefix byte, v uint64) []byte {
	return a.cut(appendUintKey(a.buf, prefix, v))
}

// cut returns what grown added to the arena, capped so that appending to
// the returned key cannot overwrite the next one.
func (a *keyArena) cut(grown []byte) []byte {
	k := grown[len(a.buf):len(grown):len(grown)]
	a.buf = grown
	return k
}

func docKey(id string) []byte         { return stringKey(prefixDoc, id) }
func localKey(id string) []byte       { return stringKey(prefixLocal, id) }
func purgeUUIDKey(uuid string) []byte { return stringKey(prefixPurgeUUID, uuid) }
func seqKey(seq uint64) []byte        { return uintKey(prefixSeq, seq) }
func bodyKey(ptr uint64) []byte       { return uintKey(prefixBody, ptr) }
func purgeKey(seq uint64) []byte      { return uintKey(prefixPurge, seq) }
func prefixEnd(prefix byte) []byte    { return []byte{prefix + 1} }
func prefixStart(prefix byte) []byte  { return []byte{prefix} }
func keyUint(k []byte) (uint64, bool) {
	if len(k) != 9 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

// successor returns the smallest key greater than k: the exclusive upper
// bound that makes k itself inclusive.
func successor(k []byte) []byte {
	s := make([]byte, len(k)+1)
	copy(s, k)
	return s
}

// prefixSpans ends every table Pebble writes at a prefix boundary
// (Options.Experimental.SpanPolicyFunc), so a table holds one structure.
// Bodies and changes entries are appended in key order: each flush then
// adds tables that overlap no other in L0, as raw appends do, and Pebble
// sees no read amplification to compact away. A table spanning from bodies
// to changes overlapped every earlier flush's, and a bulk load spent a third
// of its time rewriting bodies in L0 compactions.
func prefixSpans(start []byte) (pebble.SpanPolicy, []byte, error) {
	if len(start) == 0 || start[0] == 0xff {
		return pebble.SpanPolicy{}, nil, nil
	}
	return pebble.SpanPolicy{}, []byte{start[0] + 1}, nil
}
