package clonestream

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// memSink checks what a transfer hands its sink: every write inside the
// declared size, in order.
type memSink struct {
	t    *testing.T
	size int64
	end  int64
}

func (m *memSink) entry(Entry) error { m.end, m.size = 0, 1<<62; return nil }
func (m *memSink) data(off int64, p []byte) error {
	m.check(off, int64(len(p)))
	return nil
}
func (m *memSink) hole(off, n int64) error { m.check(off, n); return nil }
func (m *memSink) check(off, n int64) {
	if off != m.end || n <= 0 || off+n > m.size {
		m.t.Fatalf("sink got [%d, %d) after %d of %d", off, off+n, m.end, m.size)
	}
	m.end = off + n
}
func (m *memSink) commit() (string, error) { return "", nil }
func (m *memSink) abort()                  {}
func (m *memSink) written() int64          { return m.end }

// FuzzReceive feeds arbitrary records after a header to a transfer: it
// must refuse or accept without panicking, allocating beyond its bounds
// or writing outside the declared content.
func FuzzReceive(f *testing.F) {
	add := func(hdr Header, body func(e *Encoder)) {
		var b bytes.Buffer
		e := NewEncoder(&b)
		body(e)
		_ = e.Flush()
		f.Add(uint8(hdr.Kind), hdr.Size, hdr.Entries, b.Bytes())
	}
	img := Header{Kind: KindDisk, Size: 2 * ChunkSize}
	add(img, func(e *Encoder) {
		_ = e.Data(0, 5, EncodingRaw, []byte("hello"))
		_ = e.Hole(5, 2*ChunkSize-5)
		_ = e.Trailer([32]byte{})
	})
	tr := Header{Kind: KindTree, Size: 3, Entries: 2}
	add(tr, func(e *Encoder) {
		_ = e.Entry(Entry{Type: EntryDir, Path: "d", Mode: 0o755})
		_ = e.Entry(Entry{Type: EntryFile, Path: "d/f", Mode: 0o644, Size: 3})
		_ = e.Data(0, 3, EncodingRaw, []byte("abc"))
		_ = e.Trailer([32]byte{})
	})
	c, _ := newCompressor(CompressZstd, nil)
	enc, payload := c.encode(bytes.Repeat([]byte("zstd "), 1000))
	add(Header{Kind: KindBlock, Size: 5000}, func(e *Encoder) { _ = e.Data(0, 5000, enc, payload) })
	f.Fuzz(func(t *testing.T, kind uint8, size, entries int64, body []byte) {
		hdr := Header{Kind: Kind(kind), Size: size, Entries: entries}
		if hdr.Validate() != nil {
			return
		}
		x, err := newTransfer(hdr, &memSink{t: t, size: size})
		if err != nil {
			t.Fatal(err)
		}
		defer x.close()
		dec := NewDecoder(bytes.NewReader(body))
		for {
			rec, err := dec.record(x.buf)
			if err != nil {
				return
			}
			done, err := x.apply(rec)
			if err != nil || done {
				return
			}
		}
	})
}

// FuzzServe feeds arbitrary bytes to a target as a connection: it must
// refuse them without panicking.
func FuzzServe(f *testing.F) {
	f.Add(forge(f, Header{Kind: KindDisk, Size: 10}, func(e *Encoder) { _ = e.Hole(0, 10) }))
	f.Fuzz(func(t *testing.T, stream []byte) {
		tgt := NewTarget(context.Background(), TargetOptions{Path: t.TempDir(), Credential: testCred})
		defer tgt.Close()
		_, _ = tgt.Serve(context.Background(), streamConn{bytes.NewReader(stream), io.Discard})
	})
}
