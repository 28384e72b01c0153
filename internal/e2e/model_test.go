package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"
)

// docState is what the test knows of one document: absent (never created
// or deleted), or holding the body of version V (see docBody).
type docState struct {
	Exists bool
	V      int
}

func (s docState) String() string {
	if !s.Exists {
		return "absent"
	}
	return fmt.Sprintf("v%d", s.V)
}

// opRecord is one save or delete a writer issued: the state it leads to and
// whether the syscalls returned success (acknowledged).
type opRecord struct {
	after docState
	acked bool
}

// docHistory is the model of one document: its state verified at the start
// of the round and every operation issued on it since. Exactly one writer
// goroutine owns a document, so its operations are totally ordered.
type docHistory struct {
	id   string
	base docState
	ops  []opRecord
	next int // the next version number to write
}

// allowed lists the states a crash may leave the document in. Everything
// acknowledged is durable, so the state after the last acknowledged
// operation is allowed; so is the state after any later unacknowledged
// operation, because a save or delete in flight at kill time may or may not
// have become durable. Nothing older is allowed: that would be a lost
// acknowledged write.
func (h *docHistory) allowed() []docState {
	last := -1
	for i, op := range h.ops {
		if op.acked {
			last = i
		}
	}
	states := []docState{h.base}
	if last >= 0 {
		states = []docState{h.ops[last].after}
	}
	for _, op := range h.ops[last+1:] {
		states = append(states, op.after)
	}
	return states
}

// lastAcked is the state after the last acknowledged operation (the base if
// none was acknowledged).
func (h *docHistory) lastAcked() docState {
	return h.allowed()[0]
}

// settle records the state observed after recovery as the new base.
func (h *docHistory) settle(s docState) {
	h.base = s
	h.ops = h.ops[:0]
	if s.Exists && s.V >= h.next {
		h.next = s.V + 1
	}
}

// check compares an observed state with the allowed ones. The error says
// which acknowledged operation was lost; inFlight reports that the observed
// state is that of an unacknowledged operation that became durable anyway.
func (h *docHistory) check(got docState) (inFlight bool, err error) {
	allowed := h.allowed()
	for i, s := range allowed {
		if s == got {
			return i > 0 && got != allowed[0], nil
		}
	}
	var names []string
	for _, s := range allowed {
		names = append(names, s.String())
	}
	return false, fmt.Errorf("doc %q is %v after recovery; acknowledged state %v, allowed %s (ops this round: %d)",
		h.id, got, allowed[0], strings.Join(names, " or "), len(h.ops))
}

// docBody is the exact JSON body written as version v of doc id: a field
// naming the document and version, and padding whose length (mostly under
// 1 KB, one version in 16 around 24–56 KB so commits span several blocks)
// and content follow from (id, v), so a body can be verified from its
// version alone.
func docBody(id string, v int) []byte {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", id, v)
	x := h.Sum64()
	n := 40 + int(x%900)
	if x>>32%16 == 0 {
		n = 24<<10 + int(x>>8%(32<<10))
	}
	unit := fmt.Sprintf("%s:%d;", id, v)
	pad := strings.Repeat(unit, n/len(unit)+1)[:n]
	b, _ := json.Marshal(struct {
		Doc string `json:"doc"`
		V   int    `json:"v"`
		Pad string `json:"pad"`
	}{id, v, pad})
	return b
}

// parseDoc decodes a rendered document (from the mount) or a stored body
// (from dbcore, without _id/_rev), checks that it is exactly docBody of the
// version it claims and returns that version. wantMeta requires _id == id
// and a _rev; meta fields are removed before the comparison.
func parseDoc(id string, data []byte, wantMeta bool) (int, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return 0, fmt.Errorf("doc %q: not a JSON object: %w: %.200q", id, err, data)
	}
	if wantMeta {
		if m["_id"] != id {
			return 0, fmt.Errorf("doc %q: _id is %v", id, m["_id"])
		}
		if rev, _ := m["_rev"].(string); rev == "" {
			return 0, fmt.Errorf("doc %q: no _rev", id)
		}
		delete(m, "_id")
		delete(m, "_rev")
	}
	num, _ := m["v"].(json.Number)
	v, err := num.Int64()
	if err != nil {
		return 0, fmt.Errorf("doc %q: no version field: %.200q", id, data)
	}
	if !wantMeta {
		// A stored body is the compact object as written, byte for byte.
		if !bytes.Equal(data, docBody(id, int(v))) {
			return 0, fmt.Errorf("doc %q: stored body of v%d differs from what was written: %.200q", id, v, data)
		}
		return int(v), nil
	}
	var want map[string]any
	wdec := json.NewDecoder(bytes.NewReader(docBody(id, int(v))))
	wdec.UseNumber()
	if err := wdec.Decode(&want); err != nil {
		return 0, err
	}
	if !reflect.DeepEqual(m, want) {
		return 0, fmt.Errorf("doc %q: content of v%d differs from what was written: %.200q", id, v, data)
	}
	return int(v), nil
}
