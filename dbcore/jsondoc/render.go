package jsondoc

import (
	"bytes"
	"unicode/utf8"
)

// Render returns the text couchfs serves for a document: an object with
// "_id", "_rev" and, for a tombstone, "_deleted": true, followed by the
// fields of body in their stored order, indented by two spaces per level
// like encoding/json.MarshalIndent(v, "", "  ") (empty objects and arrays
// stay "{}" and "[]"), and a trailing newline. An empty id or rev is left
// out. body must be a compact object as Parse produces it.
func Render(id, rev string, deleted bool, body []byte) []byte {
	out := make([]byte, 0, RenderedSize(id, rev, deleted, body))
	return render(out, id, rev, deleted, body)
}

// AppendRender appends what Render returns to dst.
func AppendRender(dst []byte, id, rev string, deleted bool, body []byte) []byte {
	return render(dst, id, rev, deleted, body)
}

// RenderedSize returns len(Render(id, rev, deleted, body)) without building
// the text.
func RenderedSize(id, rev string, deleted bool, body []byte) int {
	n := 0
	fields := 0
	if id != "" {
		n += len(`  "_id": `) + StringSize(id)
		fields++
	}
	if rev != "" {
		n += len(`  "_rev": `) + StringSize(rev)
		fields++
	}
	if deleted {
		n += len(`  "_deleted": true`)
		fields++
	}
	inner := indentSize(body)
	if inner > 0 {
		fields++
	}
	if fields == 0 {
		return len("{}\n")
	}
	// "{\n", the specials and the body's members, ",\n" between them, "\n}\n".
	return 2 + n + inner + 2*(fields-1) + 3
}

func render(out []byte, id, rev string, deleted bool, body []byte) []byte {
	sep := false
	field := func(name string) {
		if sep {
			out = append(out, ",\n"...)
		} else {
			out = append(out, "{\n"...)
		}
		sep = true
		out = append(out, `  "`...)
		out = append(out, name...)
		out = append(out, `": `...)
	}
	if id != "" {
		field("_id")
		out = AppendString(out, id)
	}
	if rev != "" {
		field("_rev")
		out = AppendString(out, rev)
	}
	if deleted {
		field("_deleted")
		out = append(out, "true"...)
	}
	if len(body) > 2 {
		if sep {
			out = append(out, ",\n"...)
		} else {
			out = append(out, "{\n"...)
		}
		sep = true
		out = indentMembers(out, body)
	}
	if !sep {
		return append(out, "{}\n"...)
	}
	return append(out, "\n}\n"...)
}

// indentMembers appends the members of the compact object body at indent
// level 1, without the enclosing braces or the newline after the last one.
func indentMembers(out []byte, body []byte) []byte {
	level := 1
	out = append(out, "  "...)
	inner := body[1 : len(body)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch c {
		case '"':
			j := stringEnd(inner, i)
			out = append(out, inner[i:j+1]...)
			i = j
		case '{', '[':
			if i+1 < len(inner) && (inner[i+1] == '}' || inner[i+1] == ']') {
				out = append(out, c, inner[i+1])
				i++
				continue
			}
			level++
			out = append(out, c, '\n')
			out = appendIndent(out, level)
		case '}', ']':
			level--
			out = append(out, '\n')
			out = appendIndent(out, level)
			out = append(out, c)
		case ',':
			out = append(out, ",\n"...)
			out = appendIndent(out, level)
		case ':':
			out = append(out, ": "...)
		default:
			// A number or literal: copy it whole.
			j := i + 1
			for j < len(inner) && !structural(inner[j]) {
				j++
			}
			out = append(out, inner[i:j]...)
			i = j - 1
		}
	}
	return out
}

// stringEnd returns the index of the quote closing the string that opens at
// s[i], in valid JSON.
func stringEnd(s []byte, i int) int {
	for {
		j := i + 1 + bytes.IndexByte(s[i+1:], '"')
		// The quote is escaped when an odd number of backslashes precede it.
		k := j - 1
		for s[k] == '\\' {
			k--
		}
		if (j-1-k)%2 == 0 {
			return j
		}
		i = j
	}
}

// structural reports the bytes that end a number or literal in compact JSON.
func structural(c byte) bool {
	switch c {
	case ',', ':', '{', '}', '[', ']', '"':
		return true
	}
	return false
}

func appendIndent(out []byte, level int) []byte {
	for range level {
		out = append(out, "  "...)
	}
	return out
}

// indentSize returns the length indentMembers would append for body.
func indentSize(body []byte) int {
	if len(body) <= 2 {
		return 0
	}
	level := 1
	n := 2
	inner := body[1 : len(body)-1]
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '"':
			j := stringEnd(inner, i)
			n += j + 1 - i
			i = j
		case '{', '[':
			if i+1 < len(inner) && (inner[i+1] == '}' || inner[i+1] == ']') {
				n += 2
				i++
				continue
			}
			level++
			n += 2 + 2*level
		case '}', ']':
			level--
			n += 2 + 2*level
		case ',':
			n += 2 + 2*level
		case ':':
			n += 2
		default:
			j := i + 1
			for j < len(inner) && !structural(inner[j]) {
				j++
			}
			n += j - i
			i = j - 1
		}
	}
	return n
}

// AppendString appends s as a JSON string: quotes, the escapes \" \\ \n \r
// \t \b \f, \u00XX for other control characters, and U+FFFD for bytes that
// are not UTF-8 (as encoding/json does). Other characters, including
// non-ASCII, are copied unescaped.
func AppendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[start:i]...)
				buf = append(buf, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"':
			buf = append(buf, '\\', '"')
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		default:
			const hex = "0123456789abcdef"
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// StringSize returns len(AppendString(nil, s)).
func StringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x80 && c != '"' && c != '\\':
			n++
			i++
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				n += 6
				i++
				continue
			}
			n += size
			i += size
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			n += 2
			i++
		default:
			n += 6
			i++
		}
	}
	return n
}
