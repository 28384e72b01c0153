package couchfile

import (
	"bytes"
	"encoding/binary"
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

// packRevIDs appends the packed form of src to dst. Every save rewrites
// the doc info of its document, so this runs over each revision id of a
// document's history at each save: it jumps from one special byte to the
// next with bytes.IndexByte instead of looking at every byte.
func packRevIDs(dst, src []byte) []byte {
	start := 0 // src[start:i] is copied as is when a special byte comes
	esc := bytes.IndexByte(src, packEsc)
	for i := 0; i < len(src); i++ {
		// The next special byte: a 32 (maybe a rev id) or an escape byte.
		sp := bytes.IndexByte(src[i:], 32)
		if sp >= 0 {
			sp += i
		}
		if esc >= 0 && esc < i {
			if esc = bytes.IndexByte(src[i:], packEsc); esc >= 0 {
				esc += i
			}
		}
		switch {
		case sp < 0 && esc < 0:
			return append(dst, src[start:]...)
		case sp < 0 || (esc >= 0 && esc < sp):
			i = esc
		default:
			i = sp
		}
		c := src[i]
		dst = append(dst, src[start:i]...)
		switch {
		case c == 32 && i+33 <= len(src) && isLowerHex(src[i+1:i+33]):
			dst = appendHexID(append(dst, packEsc, 1), src[i+1:i+33])
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

// appendHexID appends the 16 bytes that 32 lowercase hex digits spell,
// eight digits at a time: with the digits known to be valid, a digit's
// value is its low nibble, plus 9 for a letter (bit 6 set).
func appendHexID(dst, digits []byte) []byte {
	var out [16]byte
	for k := range 4 {
		x := binary.LittleEndian.Uint64(digits[8*k:])
		v := x&0x0f0f0f0f0f0f0f0f + (x>>6&0x0101010101010101)*9
		// Byte 2j holds the high nibble of output byte j, byte 2j+1 its
		// low nibble; gather each pair into a 16-bit lane, then the lanes.
		t := (v&0x000f000f000f000f)<<4 | (v>>8)&0x000f000f000f000f
		t = (t | t>>8) & 0x0000ffff0000ffff
		t = (t | t>>16) & 0x00000000ffffffff
		binary.LittleEndian.PutUint32(out[4*k:], uint32(t))
	}
	return append(dst, out[:]...)
}

// lowerHex is 1 for the bytes of lowercase hex digits.
var lowerHex = func() (t [256]byte) {
	for _, c := range "0123456789abcdef" {
		t[c] = 1
	}
	return t
}()

// isLowerHex checks every byte without a branch per byte.
func isLowerHex(b []byte) bool {
	ok := byte(1)
	for _, c := range b {
		ok &= lowerHex[c]
	}
	return ok == 1
}

// unpackRevIDs reverses packRevIDs.
func unpackRevIDs(src []byte) ([]byte, error) {
	out := make([]byte, 0, len(src)+len(src)/2)
	for i := 0; i < len(src); {
		j := bytes.IndexByte(src[i:], packEsc)
		if j < 0 {
			return append(out, src[i:]...), nil
		}
		out = append(out, src[i:i+j]...)
		i += j
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
