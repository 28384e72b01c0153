package fs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// Name encoding. A document id becomes a file name by escaping the bytes a
// Linux file name cannot hold or that would make the name ambiguous, then
// appending ".json":
//
//	'/'  → %2F   (a path separator; ids under _design/ and _local/ lose the
//	              prefix first, because those documents live in subdirectories)
//	'%'  → %25   (the escape character itself)
//	NUL  → %00   (cannot appear in a file name)
//	'.' at the start → %2E (names starting with '.' belong to editors'
//	              scratch files, so a document never gets one)
//
// The decoder accepts exactly what the encoder produces, so every name maps to
// at most one id and back (the fuzz test checks both directions).

// docSuffix ends every document file name.
const docSuffix = ".json"

// conflictsSuffix ends the name of a document's conflicts directory.
const conflictsSuffix = ".conflicts"

// maxNameLen is the longest file name Linux accepts in a directory entry
// (NAME_MAX). The kernel hands FUSE names up to 1024 bytes, so the file
// system enforces it itself: ext4 and every other local file system do.
const maxNameLen = 255

// errNameTooLong is a file name over maxNameLen bytes, or a document id
// whose file name would be (toErrno: ENAMETOOLONG).
var errNameTooLong = errors.New("file name longer than 255 bytes")

// checkName returns errNameTooLong when name is longer than maxNameLen. A
// pure function.
func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: %d bytes", errNameTooLong, len(name))
	}
	return nil
}

// nameErrno is checkName for the names a FUSE request carries, as the
// errno the request fails with (0 when every name fits).
func nameErrno(names ...string) syscall.Errno {
	for _, n := range names {
		if err := checkName(n); err != nil {
			return toErrno(err)
		}
	}
	return 0
}

// docFileName returns the file name of the document whose id, without any
// _design/ or _local/ prefix, is id, or errNameTooLong when that name would
// be longer than maxNameLen: such a document cannot be shown. A pure
// function.
func docFileName(id string) (string, error) {
	name := EncodeName(id)
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("document %.40q…: %w", id, err)
	}
	return name, nil
}

// needsEscape reports whether byte c at index i of an id must be escaped.
func needsEscape(c byte, i int) bool {
	return c == '/' || c == '%' || c == 0 || (c == '.' && i == 0)
}

const upperHex = "0123456789ABCDEF"

// EncodeName returns the file name of the document whose id, without any
// _design/ or _local/ prefix, is id: the escaped id followed by ".json".
// It is a pure function; any goroutine may call it.
func EncodeName(id string) string {
	var buf [128]byte // on the stack: the string is the one allocation
	return string(appendName(buf[:0], id))
}

// appendName appends EncodeName(id) to b: listings build a whole batch of
// names in one buffer.
func appendName(b []byte, id string) []byte {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if needsEscape(c, i) {
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xF])
			continue
		}
		b = append(b, c)
	}
	return append(b, docSuffix...)
}

// DecodeName returns the id (without namespace prefix) of the document file
// called name, and false when name is not a document name: it does not end in
// ".json", has nothing before the suffix, starts with '.', or holds an escape
// the encoder would not have written. It is a pure function.
func DecodeName(name string) (string, bool) {
	stem, ok := strings.CutSuffix(name, docSuffix)
	if !ok || stem == "" || stem[0] == '.' {
		return "", false
	}
	return unescape(stem)
}

// unescape reverses the escaping of EncodeName on stem (no suffix).
func unescape(stem string) (string, bool) {
	if !strings.ContainsAny(stem, "%/\x00") && stem[0] != '.' {
		return stem, true
	}
	var b strings.Builder
	b.Grow(len(stem))
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if c != '%' {
			if needsEscape(c, b.Len()) {
				return "", false
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(stem) {
			return "", false
		}
		v, ok := hexByte(stem[i+1], stem[i+2])
		if !ok || !needsEscape(v, b.Len()) {
			return "", false
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), true
}

// hexByte decodes two upper-case hex digits, the only form EncodeName writes.
func hexByte(hi, lo byte) (byte, bool) {
	h := strings.IndexByte(upperHex, hi)
	l := strings.IndexByte(upperHex, lo)
	if h < 0 || l < 0 {
		return 0, false
	}
	return byte(h<<4 | l), true
}

// ChangeName returns the name of the _changes entry for the change row of
// document id (full id, prefixes included) at seq: the seq zero-padded to 12
// digits so that a plain `ls` sorts entries in seq order, a dash, then the
// encoded id. A pure function.
func ChangeName(seq uint64, id string) string {
	var buf [128]byte // on the stack: the string is the one allocation
	return string(appendChangeName(buf[:0], seq, id))
}

// changeSeqDigits is the width seqs are zero-padded to in ChangeName.
const changeSeqDigits = 12

// appendChangeName appends ChangeName(seq, id) to b.
func appendChangeName(b []byte, seq uint64, id string) []byte {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], seq, 10)
	for n := len(d); n < changeSeqDigits; n++ {
		b = append(b, '0')
	}
	b = append(b, d...)
	b = append(b, '-')
	return appendName(b, id)
}

// ParseChangeName reverses ChangeName. It reports false for any name
// ChangeName would not produce.
func ParseChangeName(name string) (uint64, string, bool) {
	digits, rest, ok := strings.Cut(name, "-")
	if !ok || len(digits) < 12 || (len(digits) > 12 && digits[0] == '0') {
		return 0, "", false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, "", false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, "", false
	}
	id, ok := DecodeName(rest)
	if !ok {
		return 0, "", false
	}
	return seq, id, true
}

// ConflictsName returns the name of the conflicts directory of the document
// whose (prefix-less) id is id.
func ConflictsName(id string) string {
	return strings.TrimSuffix(EncodeName(id), docSuffix) + conflictsSuffix
}

// DecodeConflictsName reverses ConflictsName.
func DecodeConflictsName(name string) (string, bool) {
	stem, ok := strings.CutSuffix(name, conflictsSuffix)
	if !ok {
		return "", false
	}
	return DecodeName(stem + docSuffix)
}

// RevName is the file name of one conflicting revision inside a conflicts
// directory. Revisions are "N-hex" and never need escaping, but replicated
// revision ids may hold any byte, so they go through the same encoder.
func RevName(rev string) string { return EncodeName(rev) }

// isScratchName reports whether name, in a database directory or one of its
// _design/ and _local/ subdirectories, is an editor's or tool's scratch file
// rather than a document: anything that is not a well-formed document name
// (vim's ".x.json.swp", "x.json~" and "4913", emacs "#x.json#" and ".#x.json",
// sed's "sedAbC123", Python's temporary names) and is not a reserved entry.
func isScratchName(name string) bool {
	if _, ok := DecodeName(name); ok {
		return false
	}
	return !strings.HasSuffix(name, conflictsSuffix)
}
