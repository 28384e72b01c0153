package jsondoc

import (
	"fmt"
	"strconv"
)

// revisions interprets a syntactically valid _revisions value. It returns
// a problem description instead of the fields when the shape is wrong.
func revisions(raw []byte) (uint64, []string, string) {
	if raw[0] != '{' {
		return 0, nil, "must be an object"
	}
	var (
		start    uint64
		hasStart bool
		ids      []string
		hasIDs   bool
	)
	w := walker{d: raw, i: 1}
	for w.skipWS(); w.d[w.i] != '}'; {
		key := w.string()
		w.skipWS()
		w.i++ // ':'
		w.skipWS()
		vs := w.i
		w.skipValue()
		v := raw[vs:w.i]
		switch key {
		case "start":
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return 0, nil, "start must be a non-negative integer"
			}
			start, hasStart = n, true
		case "ids":
			if v[0] != '[' {
				return 0, nil, "ids must be an array of strings"
			}
			iw := walker{d: v, i: 1}
			ids = ids[:0]
			for iw.skipWS(); iw.d[iw.i] != ']'; {
				if iw.d[iw.i] != '"' {
					return 0, nil, "ids must be an array of strings"
				}
				id := iw.string()
				if id == "" {
					return 0, nil, "ids must not be empty strings"
				}
				ids = append(ids, id)
				iw.skipWS()
				if iw.d[iw.i] == ',' {
					iw.i++
					iw.skipWS()
				}
			}
			hasIDs = true
		}
		w.skipWS()
		if w.d[w.i] == ',' {
			w.i++
			w.skipWS()
		}
	}
	switch {
	case !hasStart || !hasIDs:
		return 0, nil, "needs start and ids"
	case len(ids) == 0:
		return 0, nil, "ids must not be empty"
	case uint64(len(ids)) > start:
		return 0, nil, fmt.Sprintf("%d ids but start is %d", len(ids), start)
	}
	return start, ids, ""
}

// walker steps through JSON already validated by the parser.
type walker struct {
	d []byte
	i int
}

// skipWS skips whitespace.
func (w *walker) skipWS() {
	for w.i < len(w.d) && (w.d[w.i] == ' ' || w.d[w.i] == '\t' || w.d[w.i] == '\n' || w.d[w.i] == '\r') {
		w.i++
	}
}

// string decodes the string at w.i.
func (w *walker) string() string {
	s := w.i + 1
	w.skipString()
	return string(unescape(nil, w.d[s:w.i-1]))
}

// skipString moves past the string at w.i.
func (w *walker) skipString() {
	w.i++
	for w.d[w.i] != '"' {
		if w.d[w.i] == '\\' {
			w.i++
		}
		w.i++
	}
	w.i++
}

// skipValue moves past one value.
func (w *walker) skipValue() {
	depth := 0
	for {
		switch c := w.d[w.i]; c {
		case '"':
			w.skipString()
		case '{', '[':
			depth++
			w.i++
		case '}', ']':
			depth--
			w.i++
		default:
			// Scalars and separators inside containers.
			if depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				return
			}
			w.i++
		}
		if depth == 0 && (w.i >= len(w.d) || w.d[w.i] == ',' || w.d[w.i] == '}' || w.d[w.i] == ']' ||
			w.d[w.i] == ' ' || w.d[w.i] == '\t' || w.d[w.i] == '\n' || w.d[w.i] == '\r') {
			return
		}
	}
}
