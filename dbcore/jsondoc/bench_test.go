package jsondoc

import (
	"fmt"
	"strings"
	"testing"
)

// doc1K is a typical ~1 KB document with the usual mix of values.
var doc1K = func() []byte {
	var b strings.Builder
	b.WriteString(`{"_id":"user:12345","_rev":"7-0123456789abcdef0123456789abcdef","type":"user",`)
	b.WriteString(`"name":"Ada Lovelace","email":"ada@example.org","active":true,"score":98.25,`)
	b.WriteString(`"address":{"street":"12 Example Road","city":"London","zip":"NW1 6XE","geo":[51.5237,-0.1585]},`)
	b.WriteString(`"tags":[`)
	for i := range 12 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"tag-%02d"`, i)
	}
	b.WriteString(`],"history":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"at":"2024-01-%02dT10:00:00Z","event":"login","ok":%v,"n":%d}`, i+1, i%2 == 0, i*37)
	}
	b.WriteString(`],"note":"caf\u00e9 \"quoted\" text with some length to it, like a short paragraph."}`)
	return []byte(b.String())
}()

func BenchmarkParse1K(b *testing.B) {
	b.SetBytes(int64(len(doc1K)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc1K, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender1K(b *testing.B) {
	p, err := Parse(doc1K, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc1K)))
	b.ReportAllocs()
	for b.Loop() {
		Render(p.ID, p.Rev, false, p.Body)
	}
}

func BenchmarkRenderedSize1K(b *testing.B) {
	p, err := Parse(doc1K, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		RenderedSize(p.ID, p.Rev, false, p.Body)
	}
}

func TestBenchDocIsValid(t *testing.T) {
	if len(doc1K) < 900 || len(doc1K) > 1300 {
		t.Errorf("doc1K is %d bytes", len(doc1K))
	}
	checkParse(t, doc1K)
}

// docText1K is a ~1 KB document that is mostly one string, like the
// documents of `couchfs bench` and dbcore's benchmarks.
var docText1K = func() []byte {
	b := []byte(`{"n":42,"title":"Document number 42","tags":["bench","doc-42"],"text":"`)
	for i := 0; len(b) < 1000; i++ {
		b = append(b, "lorem ipsum dolor sit amet "[i%27])
	}
	return append(b, `"}`...)
}()

func BenchmarkParseText1K(b *testing.B) {
	b.SetBytes(int64(len(docText1K)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(docText1K, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
