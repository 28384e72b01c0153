package pebble

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
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

// stateSweep is how many state records the log keeps at most before a
// range deletion drops the older ones.
const stateSweep = 1024

// stateLog writes the state record. The state is rewritten in the same
// batch as every change, so counters never disagree with the data they
// count. Under one key, every memtable flush would carry a version of it
// and those tables would all overlap there; Pebble compacts overlapping L0
// tables, and grows such a compaction over their neighbours, which in a
// bulk load are bodies (see prefixSpans). So each record takes a new key,
// prefixState + be64(n) with n rising, the greatest being the state, and
// every stateSweep-th record deletes those before it. Updater only.
type stateLog struct {
	next uint64 // the number of the next record
}

// put adds st to b as the newest record.
func (l *stateLog) put(b *pebble.Batch, st *state) {
	k := appendUintKey(make([]byte, 0, 9), prefixState, l.next)
	if l.next%stateSweep == 0 {
		_ = b.DeleteRange(stateKey, k, nil)
	}
	_ = b.Set(k, st.encode(), nil)
	l.next++
}

// loadState reads the newest state record.
func loadState(r pebble.Reader) (*state, error) {
	st, _, err := readState(r)
	return st, err
}

// readState reads the newest state record and returns the stateLog that
// continues after it.
func readState(r pebble.Reader) (*state, stateLog, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefixStart(prefixState), UpperBound: prefixEnd(prefixState)})
	if err != nil {
		return nil, stateLog{}, fmt.Errorf("reading state record: %w", wrapReadErr(err))
	}
	defer it.Close()
	if !it.Last() {
		if err := it.Error(); err != nil {
			return nil, stateLog{}, fmt.Errorf("reading state record: %w", wrapReadErr(err))
		}
		return nil, stateLog{}, fmt.Errorf("no state record: %w", engines.ErrCorrupt)
	}
	var n uint64 // stateKey, a compaction's record
	if k := it.Key(); len(k) != 1 {
		var ok bool
		if n, ok = keyUint(k); !ok {
			return nil, stateLog{}, fmt.Errorf("state record key %x: %w", k, engines.ErrCorrupt)
		}
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, stateLog{}, fmt.Errorf("reading state record: %w", wrapReadErr(err))
	}
	st, err := decodeState(v)
	return st, stateLog{next: n + 1}, err
}
