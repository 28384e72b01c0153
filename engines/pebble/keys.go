package pebble

import "encoding/binary"

// A database keeps every structure in one Pebble key space, partitioned by a
// one-byte prefix. Fixed-width big-endian integers make the byte order of
// sequence and pointer keys their numeric order.
const (
	prefixBody      byte = 'b' // body pointer (be64) → raw JSON body
	prefixDoc       byte = 'd' // document ID → engines.AppendDocInfo
	prefixLocal     byte = 'l' // local document ID → engines.AppendLocalDoc
	prefixState     byte = 'm' // the single state record
	prefixPurge     byte = 'p' // purge sequence (be64) → engines.AppendPurgeInfo
	prefixSeq       byte = 's' // update sequence (be64) → engines.AppendDocInfo, a copy of the doc key's value, so the changes feed needs no lookups
	prefixPurgeUUID byte = 'u' // purge request UUID → purge sequence (be64)
)

// stateKey is the key of the state record; it is rewritten in the same batch
// as every change, so counters never disagree with the data they count.
var stateKey = []byte{prefixState}

func stringKey(prefix byte, s string) []byte {
	k := make([]byte, 0, 1+len(s))
	return append(append(k, prefix), s...)
}

func uintKey(prefix byte, v uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], v)
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
