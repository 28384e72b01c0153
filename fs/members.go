package fs

import (
	"bytes"
	"encoding/json"
	"io"
)

// The filesystem looks at exactly two members of what an application writes
// before handing it to dbcore: "_id" and "_rev" at the top level (see
// prepareSave). This file finds and removes them without re-encoding the
// rest, so the body dbcore parses is the application's own text.

// member is one top-level member of a JSON object.
type member struct {
	key  string
	text []byte          // `"key": value` exactly as written
	val  json.RawMessage // the value
}

// splitObject returns the top-level members of the JSON object in data, in
// order. It reports false when data is not exactly one JSON object (then the
// caller passes data on unchanged and dbcore reports the precise error).
func splitObject(data []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []member
	for dec.More() {
		start := int(dec.InputOffset())
		keyTok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := keyTok.(string)
		if !ok {
			return nil, false
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, false
		}
		end := int(dec.InputOffset())
		out = append(out, member{key: key, text: bytes.TrimLeft(data[start:end], " \t\r\n,"), val: val})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return out, true
}

// mayHaveMember reports whether the JSON text data could hold a member
// named one of keys, so that a save whose text cannot is passed on without
// splitting it (parsing every save twice, here and in dbcore, cost a tenth
// of a mount's CPU). In JSON text a key's characters appear either as
// themselves or as \u escapes, so a text holding neither the key nor a
// "\u" has no such member; false positives only cost the split.
func mayHaveMember(data []byte, keys ...string) bool {
	if bytes.Contains(data, []byte(`\u`)) {
		return true
	}
	for _, k := range keys {
		if bytes.Contains(data, []byte(k)) {
			return true
		}
	}
	return false
}

// joinObject is the inverse of splitObject for the members kept.
func joinObject(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m.text)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// stringMember returns the string value of the top-level member key, and
// whether it is present as a string.
func stringMember(ms []member, key string) (string, bool) {
	for _, m := range ms {
		if m.key != key {
			continue
		}
		var s string
		if err := json.Unmarshal(m.val, &s); err != nil {
			return "", false
		}
		return s, true
	}
	return "", false
}

// withoutMembers returns data with every top-level member whose key is in
// drop removed, and whether anything was removed.
func withoutMembers(ms []member, drop ...string) ([]member, bool) {
	kept := ms[:0:0]
	removed := false
	for _, m := range ms {
		skip := false
		for _, d := range drop {
			if m.key == d {
				skip = true
				break
			}
		}
		if skip {
			removed = true
			continue
		}
		kept = append(kept, m)
	}
	return kept, removed
}
