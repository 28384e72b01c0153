package dbcore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/couchfs/couchfs/engines"
)

// Security returns the database's security object, a JSON object ("{}"
// until set).
func (db *DB) Security() []byte {
	edb, err := db.st.enter()
	if err != nil {
		return []byte("{}")
	}
	defer db.st.leave()
	return edb.Security()
}

// SetSecurity replaces the security object. data must be a JSON object;
// its "admins", "members" and "readers" members, if present, must be objects
// whose "names" and "roles" are lists of strings (CouchDB's check). It bumps
// the update sequence and is durable on return.
func (db *DB) SetSecurity(data []byte) error {
	obj, err := checkSecurity(data)
	if err != nil {
		return err
	}
	return db.st.call(func(edb engines.DB) error {
		if err := edb.SetUpdateSeq(edb.UpdateSeq() + 1); err != nil {
			return storageErr(db.st.name, "set security", err)
		}
		if err := edb.SetSecurity(obj); err != nil {
			return db.st.setterFailed("set security", err)
		}
		db.st.committed()
		return nil
	})
}

func checkSecurity(data []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return nil, fmt.Errorf("%w: _security must be a JSON object", ErrInvalidArgument)
	}
	for _, section := range []string{"admins", "members", "readers"} {
		raw, ok := top[section]
		if !ok {
			continue
		}
		var s map[string]json.RawMessage
		if err := json.Unmarshal(raw, &s); err != nil || s == nil {
			return nil, fmt.Errorf("%w: _security %q must be an object", ErrInvalidArgument, section)
		}
		for _, list := range []string{"names", "roles"} {
			if v, ok := s[list]; ok {
				var strs []string
				if err := json.Unmarshal(v, &strs); err != nil {
					return nil, fmt.Errorf("%w: _security %s.%s must be a list of strings", ErrInvalidArgument, section, list)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, fmt.Errorf("%w: _security: %v", ErrInvalidArgument, err)
	}
	return buf.Bytes(), nil
}

// RevsLimit returns how many revisions of history each document keeps.
func (db *DB) RevsLimit() uint64 {
	edb, err := db.st.enter()
	if err != nil {
		return 0
	}
	defer db.st.leave()
	return edb.RevsLimit()
}

// SetRevsLimit sets the revs limit (at least 1). It bumps the update
// sequence and is durable on return. Documents are stemmed to the new limit
// when next written, and at compaction.
func (db *DB) SetRevsLimit(n uint64) error {
	if n < 1 {
		return fmt.Errorf("%w: _revs_limit must be at least 1", ErrInvalidArgument)
	}
	return db.st.call(func(edb engines.DB) error {
		if err := edb.SetUpdateSeq(edb.UpdateSeq() + 1); err != nil {
			return storageErr(db.st.name, "set revs limit", err)
		}
		if err := edb.SetRevsLimit(n); err != nil {
			return db.st.setterFailed("set revs limit", err)
		}
		db.st.committed()
		return nil
	})
}

// ParseRevsLimit parses what a user writes to _revs_limit: a positive
// decimal integer, surrounding white space allowed.
func ParseRevsLimit(data []byte) (uint64, error) {
	s := string(bytes.TrimSpace(data))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: _revs_limit must be a positive integer, got %q", ErrInvalidArgument, s)
	}
	return n, nil
}

// call runs fn on the updater goroutine and waits for its answer.
func (st *dbState) call(fn func(edb engines.DB) error) error {
	r := &funcReq{fn: fn, reply: make(chan error, 1)}
	if err := st.send(r); err != nil {
		return err
	}
	return <-r.reply
}
