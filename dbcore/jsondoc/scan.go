package jsondoc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// syntax builds the ErrSyntax error for offset off; syntax errors stop the
// scan at once.
func (p *parser) syntax(off int, format string, args ...any) *Error {
	return &Error{Kind: ErrSyntax, Offset: off, Detail: fmt.Sprintf(format, args...)}
}

// note records a non-syntax problem; only the first one is kept.
func (p *parser) note(kind error, off int, format string, args ...any) {
	if p.deferred == nil {
		p.deferred = &Error{Kind: kind, Offset: off, Detail: fmt.Sprintf(format, args...)}
	}
}

// skipWS skips JSON's four whitespace bytes.
func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// describe names the byte at off for an error message.
func (p *parser) describe(off int) string {
	if off >= len(p.data) {
		return "end of input"
	}
	return fmt.Sprintf("%q", p.data[off])
}

// end checks that only whitespace follows the top-level value.
func (p *parser) end() error {
	p.skipWS()
	if p.pos < len(p.data) {
		return p.syntax(p.pos, "unexpected %s after top-level value", p.describe(p.pos))
	}
	return nil
}

// key parses an object key and the colon after it, checks it against the
// keys of the object whose frame starts at frame, and returns it unescaped
// and raw (with quotes).
func (p *parser) key(frame int, seen *map[string]struct{}) (key, raw []byte, err error) {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return nil, nil, p.syntax(p.pos, "expected object key, found %s", p.describe(p.pos))
	}
	off := p.pos
	escaped, err := p.str()
	if err != nil {
		return nil, nil, err
	}
	raw = p.data[off:p.pos]
	key = raw[1 : len(raw)-1]
	if escaped {
		key = unescape(nil, key)
	}
	if p.duplicate(frame, seen, key) {
		p.note(ErrDuplicateKey, off, "key %s", raw)
	}
	p.keys = append(p.keys, key)
	p.skipWS()
	if p.pos >= len(p.data) || p.data[p.pos] != ':' {
		return nil, nil, p.syntax(p.pos, "expected ':' after object key, found %s", p.describe(p.pos))
	}
	p.pos++
	p.skipWS()
	return key, raw, nil
}

// mapAbove is the number of keys after which an object's duplicate check
// switches from a linear scan to a map.
const mapAbove = 16

// duplicate reports whether key is already among the keys of the object
// whose frame starts at frame, switching to the map *seen for big objects.
func (p *parser) duplicate(frame int, seen *map[string]struct{}, key []byte) bool {
	if *seen != nil {
		if _, ok := (*seen)[string(key)]; ok {
			return true
		}
		(*seen)[string(key)] = struct{}{}
		return false
	}
	for _, k := range p.keys[frame:] {
		if bytes.Equal(k, key) {
			return true
		}
	}
	if len(p.keys)-frame >= mapAbove {
		m := make(map[string]struct{}, 2*mapAbove)
		for _, k := range p.keys[frame:] {
			m[string(k)] = struct{}{}
		}
		m[string(key)] = struct{}{}
		*seen = m
	}
	return false
}

// next consumes the ',' or the closing byte after a member or element and
// reports whether the container ended.
func (p *parser) next(closing byte) (bool, error) {
	p.skipWS()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
			return false, nil
		case closing:
			p.pos++
			return true, nil
		}
	}
	return false, p.syntax(p.pos, "expected ',' or %q, found %s", closing, p.describe(p.pos))
}

// value parses any JSON value at p.pos, appending its compact form to p.out
// when emit is set.
func (p *parser) value(emit bool) error {
	if p.pos >= len(p.data) {
		return p.syntax(p.pos, "expected a value, found end of input")
	}
	start := p.pos
	switch c := p.data[p.pos]; c {
	case '{':
		return p.object(emit)
	case '[':
		return p.array(emit)
	case '"':
		if _, err := p.str(); err != nil {
			return err
		}
	case 't':
		if err := p.literal("true"); err != nil {
			return err
		}
	case 'f':
		if err := p.literal("false"); err != nil {
			return err
		}
	case 'n':
		if err := p.literal("null"); err != nil {
			return err
		}
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			if err := p.number(); err != nil {
				return err
			}
		} else {
			return p.syntax(p.pos, "unexpected %s, expected a value", p.describe(p.pos))
		}
	}
	if emit {
		p.out = append(p.out, p.data[start:p.pos]...)
	}
	return nil
}

// open enters an object or array at p.pos, enforcing the depth limit.
func (p *parser) open(emit bool, c byte) error {
	p.depth++
	if p.depth > p.maxDepth {
		return &Error{Kind: ErrTooDeep, Offset: p.pos, Detail: fmt.Sprintf("more than %d levels", p.maxDepth)}
	}
	if emit {
		p.out = append(p.out, c)
	}
	p.pos++
	p.skipWS()
	return nil
}

// object parses an object, checking its keys for duplicates.
func (p *parser) object(emit bool) error {
	if err := p.open(emit, '{'); err != nil {
		return err
	}
	frame := len(p.keys)
	var seen map[string]struct{}
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
	} else {
		for first := true; ; first = false {
			_, raw, err := p.key(frame, &seen)
			if err != nil {
				return err
			}
			if emit {
				if !first {
					p.out = append(p.out, ',')
				}
				p.out = append(p.out, raw...)
				p.out = append(p.out, ':')
			}
			if err := p.value(emit); err != nil {
				return err
			}
			done, err := p.next('}')
			if err != nil {
				return err
			}
			if done {
				break
			}
		}
	}
	p.keys = p.keys[:frame]
	p.depth--
	if emit {
		p.out = append(p.out, '}')
	}
	return nil
}

// array parses an array.
func (p *parser) array(emit bool) error {
	if err := p.open(emit, '['); err != nil {
		return err
	}
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
	} else {
		for first := true; ; first = false {
			if emit && !first {
				p.out = append(p.out, ',')
			}
			if err := p.value(emit); err != nil {
				return err
			}
			done, err := p.next(']')
			if err != nil {
				return err
			}
			if done {
				break
			}
		}
	}
	p.depth--
	if emit {
		p.out = append(p.out, ']')
	}
	return nil
}

// literal checks that word (true, false, null) is at p.pos.
func (p *parser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		// Point at the first byte that differs.
		off := p.pos
		for i := 0; i < len(word) && off < len(p.data) && p.data[off] == word[i]; i++ {
			off++
		}
		return p.syntax(off, "invalid literal, expected %q", word)
	}
	p.pos += len(word)
	return nil
}

// number checks JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() error {
	d := p.data
	i := p.pos
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return p.syntax(i, "invalid number: expected a digit")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return p.syntax(i, "invalid number: expected a digit after '.'")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return p.syntax(i, "invalid number: expected a digit in the exponent")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	p.pos = i
	return nil
}

// str scans the string starting at p.pos (a '"') and leaves p.pos after
// its closing quote. It reports whether the string holds escapes. Bad UTF-8
// and lone surrogates are deferred errors; control bytes and malformed
// escapes are syntax errors, as in encoding/json.
func (p *parser) str() (escaped bool, err error) {
	d := p.data
	i := p.pos + 1
	for {
		// Fast scan over the bytes that need no attention: eight at a
		// time, then one at a time up to the byte that ends the run.
		for i+8 <= len(d) && plainWord(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		for i < len(d) && d[i] >= 0x20 && d[i] < 0x80 && d[i] != '"' && d[i] != '\\' {
			i++
		}
		if i >= len(d) {
			return false, p.syntax(i, "unterminated string starting at byte %d", p.pos)
		}
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return false, p.syntax(i+1, "unterminated escape")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(d, i+2)
				if !ok {
					return false, p.syntax(i, "invalid \\u escape")
				}
				switch {
				case r >= 0xD800 && r < 0xDC00:
					r2, ok2 := rune(0), false
					if i+7 < len(d) && d[i+6] == '\\' && d[i+7] == 'u' {
						r2, ok2 = hex4(d, i+8)
					}
					if ok2 && r2 >= 0xDC00 && r2 < 0xE000 {
						i += 12
						continue
					}
					p.note(ErrInvalidUTF8, i, "lone high surrogate \\u%04x", r)
				case r >= 0xDC00 && r < 0xE000:
					p.note(ErrInvalidUTF8, i, "lone low surrogate \\u%04x", r)
				}
				i += 6
			default:
				return false, p.syntax(i, "invalid escape \\%c", d[i+1])
			}
		case c < 0x20:
			return false, p.syntax(i, "control character %#02x in string", c)
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				p.note(ErrInvalidUTF8, i, "byte %#02x in string", c)
				size = 1
			}
			i += size
		}
	}
}

// plainWord reports whether none of the eight bytes of x needs attention
// inside a string: no quote, no backslash, no control byte, no non-ASCII
// byte. Strings are most of a document's bytes, and this looks at a word
// where a byte loop makes four comparisons per byte.
func plainWord(x uint64) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	// (v - ones) & ^v & high is non-zero iff some byte of v is zero, and
	// (v - n*ones) & ^v & high iff some byte is below n (n <= 128): both
	// exact as booleans. Written out so that plainWord inlines.
	q, b := x^('"'*ones), x^('\\'*ones)
	return (x&high)|((x-0x20*ones)&^x&high)|((q-ones)&^q&high)|((b-ones)&^b&high) == 0
}
