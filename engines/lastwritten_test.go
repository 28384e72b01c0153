package engines

import (
	"fmt"
	"testing"
)

func TestLastWritten(t *testing.T) {
	doc := func(id string, seq uint64) *DocInfo { return &DocInfo{ID: id, UpdateSeq: seq} }
	var l LastWritten
	a1, b1 := doc("a", 1), doc("b", 2)
	if l.Matches(a1) || l.Matches(nil) {
		t.Fatal("an empty LastWritten matched")
	}
	l.Record([]DocInfoPair{{New: a1}, {New: b1}})
	copied := *a1
	a2 := doc("a", 3)
	for _, c := range []struct {
		name string
		old  *DocInfo
		want bool
	}{
		{"written", a1, true},
		{"other written", b1, true},
		{"equal copy", &copied, false},
		{"other pointer", a2, false},
	} {
		if got := l.Matches(c.old); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
	}
	l.Record([]DocInfoPair{{Old: a1, New: a2}, {Old: b1}})
	if l.Matches(a1) || !l.Matches(a2) || l.Matches(b1) {
		t.Fatal("Record did not replace a rewritten doc and forget a removed one")
	}
	// A doc info modified after it was recorded (against the contract)
	// still fails on its sequence.
	a2.UpdateSeq++
	if l.Matches(a2) {
		t.Fatal("a recorded doc info with another UpdateSeq matched")
	}
	l.Reset()
	if l.Matches(a2) {
		t.Fatal("Matches after Reset")
	}

	// Bounded: past maxLastWritten documents everything older is dropped.
	var all []*DocInfo
	for i := range maxLastWritten + 10 {
		di := doc(fmt.Sprint(i), uint64(i+1))
		all = append(all, di)
		l.Record([]DocInfoPair{{New: di}})
	}
	if len(l.m) > maxLastWritten {
		t.Fatalf("%d entries, bound %d", len(l.m), maxLastWritten)
	}
	if !l.Matches(all[len(all)-1]) {
		t.Fatal("the newest write was forgotten")
	}
	// A bulk write is not recorded, and what it overwrote is forgotten.
	last := all[len(all)-1]
	big := make([]DocInfoPair, maxRecordedWrite+1)
	for i := range big {
		big[i].New = doc(fmt.Sprint("big", i), uint64(i+1))
	}
	big[0] = DocInfoPair{Old: last, New: doc(last.ID, last.UpdateSeq+1)}
	l.Record(big)
	if l.Matches(last) || l.Matches(big[0].New) || l.Matches(big[1].New) {
		t.Fatal("a bulk write was recorded, or what it overwrote still matches")
	}
}
