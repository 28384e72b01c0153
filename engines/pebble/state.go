package pebble

import (
	"encoding/binary"
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

const stateV1 = 1

// Defaults of a new database, as in CouchDB.
const (
	defaultRevsLimit       = 1000
	defaultPurgeInfosLimit = 1000
)

// state is the database's header: everything the getters report plus the
// next body pointer. A published *state is never modified; the updater
// publishes a changed copy.
type state struct {
	UpdateSeq       uint64
	PurgeSeq        uint64
	DocCount        uint64
	DelDocCount     uint64
	RevsLimit       uint64
	PurgeInfosLimit uint64
	ActiveSize      uint64
	ExternalSize    uint64
	NextPtr         uint64 // the pointer the next WriteDocBody returns
	Security        []byte
	UUID            string
}

func newState(uuid string) *state {
	return &state{
		RevsLimit:       defaultRevsLimit,
		PurgeInfosLimit: defaultPurgeInfosLimit,
		NextPtr:         1,
		Security:        []byte("{}"),
		UUID:            uuid,
	}
}

func (s *state) clone() *state {
	c := *s
	return &c
}

func (s *state) encode() []byte {
	b := make([]byte, 0, 64+len(s.Security)+len(s.UUID))
	b = append(b, stateV1)
	for _, v := range []uint64{s.UpdateSeq, s.PurgeSeq, s.DocCount, s.DelDocCount, s.RevsLimit,
		s.PurgeInfosLimit, s.ActiveSize, s.ExternalSize, s.NextPtr} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Security)))
	b = append(b, s.Security...)
	b = binary.AppendUvarint(b, uint64(len(s.UUID)))
	return append(b, s.UUID...)
}

func decodeState(b []byte) (*state, error) {
	bad := func(what string) (*state, error) {
		return nil, fmt.Errorf("state record: %s: %w", what, engines.ErrCorrupt)
	}
	if len(b) == 0 || b[0] != stateV1 {
		return bad("unknown version")
	}
	b = b[1:]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytes := func() ([]byte, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(b)) {
			return nil, false
		}
		v := append([]byte(nil), b[:n]...)
		b = b[n:]
		return v, true
	}
	s := &state{}
	for _, p := range []*uint64{&s.UpdateSeq, &s.PurgeSeq, &s.DocCount, &s.DelDocCount, &s.RevsLimit,
		&s.PurgeInfosLimit, &s.ActiveSize, &s.ExternalSize, &s.NextPtr} {
		v, ok := uv()
		if !ok {
			return bad("truncated counter")
		}
		*p = v
	}
	sec, ok := bytes()
	if !ok {
		return bad("truncated security object")
	}
	uuid, ok := bytes()
	if !ok {
		return bad("truncated uuid")
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	s.Security, s.UUID = sec, string(uuid)
	return s, nil
}
