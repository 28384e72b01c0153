package enginetest

import (
	"bytes"
	"io"
	"math/rand/v2"

	"github.com/couchfs/couchfs/engines"
)

// attachmentCases port cpse_test_attachments for engines that implement
// AttachmentStreamer. (cpse_inactive_stream is about Erlang stream
// processes and has no counterpart here.)
func attachmentCases(p *env) []testCase {
	if !p.caps.streamer {
		return nil
	}
	return []testCase{
		{"write_attachment", func(e *env) {
			data := randomBytes(32 << 10)
			ptr := writeAttachment(e, data)
			e.w.apply(put("doc", `{"_attachments":{"a.bin":{"length":32768}}}`))
			requireAttachment(e, ptr, data)
			e.reopen()
			requireAttachment(e, ptr, data)
			if e.openDoc("doc") == nil {
				e.t.Fatal("the doc written with the attachment is gone")
			}
		}},
		{"attachment_sizes", func(e *env) {
			sizes := []int{0, 1, 4095, 4096, 4097, 300 << 10}
			ptrs := make([]uint64, len(sizes))
			datas := make([][]byte, len(sizes))
			for i, n := range sizes {
				datas[i] = randomBytes(n)
				ptrs[i] = writeAttachment(e, datas[i])
			}
			e.commit()
			e.reopen()
			for i := range sizes {
				requireAttachment(e, ptrs[i], datas[i])
			}
		}},
		{"attachments_interleaved_with_bodies", func(e *env) {
			var ptrs []uint64
			var datas [][]byte
			for i := range 5 {
				datas = append(datas, randomBytes(1000+i*777))
				ptrs = append(ptrs, writeAttachment(e, datas[i]))
				e.w.apply(put("doc", `{"i":1}`))
			}
			e.reopen()
			for i := range ptrs {
				requireAttachment(e, ptrs[i], datas[i])
			}
		}},
	}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeAttachment(e *env, data []byte) uint64 {
	e.t.Helper()
	ptr, size, err := e.db.(engines.AttachmentStreamer).WriteAttachment(bytes.NewReader(data))
	if err != nil {
		e.t.Fatalf("WriteAttachment: %v", err)
	}
	if size != uint64(len(data)) {
		e.t.Fatalf("WriteAttachment size %d, want %d", size, len(data))
	}
	return ptr
}

func requireAttachment(e *env, ptr uint64, want []byte) {
	e.t.Helper()
	rc, err := e.db.(engines.AttachmentStreamer).OpenAttachment(ptr)
	if err != nil {
		e.t.Fatalf("OpenAttachment(%d): %v", ptr, err)
	}
	got, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(got, want) {
		e.t.Fatalf("attachment %d: read %d bytes, %v; want %d identical bytes", ptr, len(got), err, len(want))
	}
}
