// Package revpack packs the revision IDs inside encoded doc infos.
//
// Revision IDs are 32 lowercase hex digits, and a long history's doc info is
// mostly those: eleven revisions are 350 bytes that snappy cannot shrink (it
// finds repeats, and random hex has none). CouchDB keeps them as 16-byte
// binaries; Pack does the same to any byte string without knowing the
// codec: every run of a 0x20 byte (the varint length 32) followed by 32
// lowercase hex digits becomes Esc, 0x01 and the 16 bytes the digits spell.
// A literal Esc becomes Esc, 0x00. Unpack restores the exact input, so what
// an engine stores packed is still engines.AppendDocInfo's bytes.
//
// The packing is part of the couch and pebble on-disk formats: it must never
// change.
package revpack

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// Esc is the escape byte of the packing.
const Esc = 0xff

// Pack appends the packed form of src to dst. Every save rewrites the doc
// info of its document, so this runs over each revision id of a document's
// history at each save: it jumps from one special byte to the next with
// bytes.IndexByte instead of looking at every byte. Any goroutine.
func Pack(dst, src []byte) []byte {
	start := 0 // src[start:i] is copied as is when a special byte comes
	esc := bytes.IndexByte(src, Esc)
	for i := 0; i < len(src); i++ {
		// The next special byte: a 32 (maybe a rev id) or an escape byte.
		sp := bytes.IndexByte(src[i:], 32)
		if sp >= 0 {
			sp += i
		}
		if esc >= 0 && esc < i {
			if esc = bytes.IndexByte(src[i:], Esc); esc >= 0 {
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
			dst = appendHexID(append(dst, Esc, 1), src[i+1:i+33])
			i += 32
		case c == Esc:
			dst = append(dst, Esc, 0)
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

// Unpack appends to dst what Pack turned into src; it fails with an error
// wrapping engines.ErrCorrupt on a malformed escape. Any goroutine.
func Unpack(dst, src []byte) ([]byte, error) {
	out := slices.Grow(dst, len(src)+len(src)/2)
	for i := 0; i < len(src); {
		j := bytes.IndexByte(src[i:], Esc)
		if j < 0 {
			return append(out, src[i:]...), nil
		}
		out = append(out, src[i:i+j]...)
		i += j
		switch {
		case i+1 < len(src) && src[i+1] == 0:
			out = append(out, Esc)
			i += 2
		case i+1 < len(src) && src[i+1] == 1 && i+18 <= len(src):
			out = append(out, 32)
			out = hex.AppendEncode(out, src[i+2:i+18])
			i += 18
		default:
			return nil, fmt.Errorf("bad revision-ID packing at %d: %w", i, engines.ErrCorrupt)
		}
	}
	return out, nil
}
