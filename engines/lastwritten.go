package engines

import "weak"

// LastWritten lets an engine recognise, in WriteDocInfos, an Old that is the
// very *DocInfo it last stored for that document as a New, and skip reading
// and re-encoding what is stored to compare them. The updater keeps the doc
// infos it writes and passes each back as Old on the document's next update;
// for 16 writers rewriting documents of ~100 revisions, skipping the
// comparison took a pebble save from 97 to 75 µs. WriteDocInfos' contract
// makes it sound: a DocInfo passed as New is never modified afterwards.
//
// Entries are weak pointers, so a remembered doc info is not kept alive by
// the engine, and a pointer to a new value that happens to reuse a freed
// one's address never matches. At most maxLastWritten documents are
// remembered (about 100 bytes each); past that everything is forgotten and
// writes compare in full until the documents come round again. A weak
// pointer costs about 500 ns to make, a tenth of a bulk load's time per
// document, so a write of more than maxRecordedWrite documents is not
// recorded (and makes LastWritten forget everything): bulk loads create
// documents, and rarely rewrite what they just wrote.
//
// The zero value is ready to use. Updater only, like every write.
type LastWritten struct {
	m map[string]lastWritten
}

type lastWritten struct {
	p   weak.Pointer[DocInfo]
	seq uint64
}

const (
	maxLastWritten   = 4096
	maxRecordedWrite = 64
)

// Matches reports whether old is the DocInfo that Record last saw stored
// for old.ID, so that it equals what is stored.
func (l *LastWritten) Matches(old *DocInfo) bool {
	if old == nil || l.m == nil {
		return false
	}
	e, ok := l.m[old.ID]
	return ok && e.seq == old.UpdateSeq && e.p == weak.Make(old)
}

// Record notes the doc infos pairs stored. Call it once WriteDocInfos has
// applied them.
func (l *LastWritten) Record(pairs []DocInfoPair) {
	if len(pairs) > maxRecordedWrite {
		l.m = nil
		return
	}
	if l.m == nil || len(l.m)+len(pairs) > maxLastWritten {
		l.m = make(map[string]lastWritten, len(pairs))
	}
	for _, p := range pairs {
		switch {
		case p.New != nil:
			l.m[p.New.ID] = lastWritten{p: weak.Make(p.New), seq: p.New.UpdateSeq}
		case p.Old != nil:
			delete(l.m, p.Old.ID)
		}
	}
}

// Reset forgets everything: call it whenever what is stored may differ from
// what was written (a rollback, a compaction's swap, a reopen).
func (l *LastWritten) Reset() { l.m = nil }
