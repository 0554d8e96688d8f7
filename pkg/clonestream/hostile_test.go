package clonestream

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamConn replays a recorded stream to a target and drops its answers.
type streamConn struct {
	io.Reader
	io.Writer
}

func (streamConn) Close() error { return nil }

// forge records a stream: hello, header, then whatever body writes.
func forge(t testing.TB, hdr Header, body func(e *Encoder)) []byte {
	t.Helper()
	var b bytes.Buffer
	e := NewEncoder(&b)
	require.NoError(t, e.Hello(testCred))
	b2 := hdr.append(nil) // unchecked: hostile headers too
	require.NoError(t, e.write(b2))
	body(e)
	require.NoError(t, e.Flush())
	return b.Bytes()
}

// sumOf is the digest a well-behaved source would send for content.
func sumOf(hdr Header, feed func(d *Digest)) [32]byte {
	d := NewDigest(hdr)
	feed(d)
	return d.Sum()
}

func TestHostileStreams(t *testing.T) {
	img := Header{Kind: KindDisk, Size: 3 * ChunkSize}
	tree := func(entries int64, size int64) Header { return Header{Kind: KindTree, Entries: entries, Size: size} }
	data := pattern(4096, 1)
	raw := func(e *Encoder, off int64, p []byte) { _ = e.Data(off, len(p), EncodingRaw, p) }
	tests := []struct {
		name string
		hdr  Header
		body func(e *Encoder)
		want string
	}{
		{"overlapping extents", img, func(e *Encoder) { raw(e, 0, data); raw(e, 2048, data) }, "without gaps or overlaps"},
		{"a gap", img, func(e *Encoder) { raw(e, 0, data); raw(e, 8192, data) }, "without gaps or overlaps"},
		{"an extent past the size", img, func(e *Encoder) { _ = e.Hole(0, 3*ChunkSize-10); raw(e, 3*ChunkSize-10, data) }, "passes the size"},
		{"a hole past the size", img, func(e *Encoder) { _ = e.Hole(0, 1<<40) }, "passes the size"},
		{"a data extent across a piece", img, func(e *Encoder) { _ = e.Hole(0, ChunkSize-1); raw(e, ChunkSize-1, data) }, "crosses"},
		{"a trailer too early", img, func(e *Encoder) { raw(e, 0, data); _ = e.Trailer([32]byte{}) }, "trailer after"},
		{"a wrong digest", img, func(e *Encoder) { _ = e.Hole(0, 3*ChunkSize); _ = e.Trailer([32]byte{1}) }, "digest mismatch"},
		{"a lying zstd payload", img, func(e *Encoder) { _ = e.Data(0, 4096, EncodingZstd, []byte("not zstd")) }, "zstd"},
		{"an entry in an image", img, func(e *Encoder) { _ = e.Entry(Entry{Type: EntryDir, Path: "x"}) }, "entry"},
		{"a tree escaping with ..", tree(1, 1), func(e *Encoder) {
			_ = e.Entry(Entry{Type: EntryFile, Path: "../escape", Size: 1})
		}, "clean relative path"},
		{"a tree with an absolute path", tree(1, 0), func(e *Encoder) { _ = e.Entry(Entry{Type: EntryDir, Path: "/etc"}) }, "clean relative path"},
		{"a tree with an unclean path", tree(1, 0), func(e *Encoder) { _ = e.Entry(Entry{Type: EntryDir, Path: "a//b"}) }, "clean relative path"},
		{"a symlink out of the target", tree(1, 0), func(e *Encoder) {
			en := Entry{Type: EntrySymlink, Path: "l", Link: "../../etc/passwd"}
			_ = e.Entry(en)
			_ = e.Trailer(sumOf(tree(1, 0), func(d *Digest) { d.Entry(en) }))
		}, "unsafe archive entry"},
		{"a reserved name", tree(1, 0), func(e *Encoder) {
			en := Entry{Type: EntryDir, Path: ".disk.img-1.partial"}
			_ = e.Entry(en)
			_ = e.Trailer(sumOf(tree(1, 0), func(d *Digest) { d.Entry(en) }))
		}, "reserves"},
		{"more entries than declared", tree(1, 0), func(e *Encoder) {
			_ = e.Entry(Entry{Type: EntryDir, Path: "a"})
			_ = e.Entry(Entry{Type: EntryDir, Path: "b"})
		}, "more entries"},
		{"a file larger than declared", tree(1, 10), func(e *Encoder) { _ = e.Entry(Entry{Type: EntryFile, Path: "f", Size: 11}) }, "larger than"},
		{"an entry inside a file", tree(2, 10), func(e *Encoder) {
			_ = e.Entry(Entry{Type: EntryFile, Path: "f", Size: 10})
			_ = e.Entry(Entry{Type: EntryDir, Path: "d"})
		}, "before the end"},
		{"an extent outside a file", tree(1, 0), func(e *Encoder) { _ = e.Entry(Entry{Type: EntryDir, Path: "d"}); raw(e, 0, data) }, "outside a regular file"},
		{"an unknown record", img, func(e *Encoder) { _ = e.write([]byte{'X'}) }, "unknown record"},
		{"an unknown kind", Header{Kind: 9}, func(*Encoder) {}, "unknown kind"},
		{"a tree of too many entries", tree(MaxEntries+1, 0), func(*Encoder) {}, "a tree of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tgt := NewTarget(context.Background(), TargetOptions{Path: dir, Credential: testCred})
			defer tgt.Close()
			_, err := tgt.Serve(context.Background(), streamConn{bytes.NewReader(forge(t, tt.hdr, tt.body)), io.Discard})
			require.Error(t, err)
			assert.False(t, Retryable(err), "a hostile stream is final: %v", err)
			assert.ErrorContains(t, err, tt.want)
			assert.Empty(t, visible(t, dir), "nothing published, nothing left")
		})
	}
}

func TestHostileHello(t *testing.T) {
	good := forge(t, Header{Kind: KindDisk}, func(*Encoder) {})
	tests := []struct {
		name   string
		stream []byte
		want   string
	}{
		{"not a clone stream", append([]byte("GET / HTTP/1.1\r\n"), good[16:]...), "not a clone stream"},
		{"another version", append(append([]byte(Magic), 0, 2), good[10:]...), "version 2"},
		{"a credential too long", append([]byte(Magic), 0, 1, 0xff, 0xff), "credential of"},
		{"cut in the hello", good[:12], "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := NewTarget(context.Background(), TargetOptions{Path: dir, Credential: testCred}).
				Serve(context.Background(), streamConn{bytes.NewReader(tt.stream), io.Discard})
			assert.ErrorContains(t, err, tt.want)
			assert.Empty(t, visible(t, dir))
		})
	}
}
