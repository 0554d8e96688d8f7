package clonestream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var testCred = []byte("0123456789abcdef-clone")

// piece is a run of data written into a fixture at off.
type piece struct {
	off  int64
	data []byte
}

// makeImage makes a sparse file of size bytes with the pieces written in
// it by dd (conv=notrunc), and an allocated-but-zero range by fallocate:
// real holes, made by the tools users have.
func makeImage(t *testing.T, dir string, size int64, pieces []piece, zeroAlloc [2]int64) string {
	t.Helper()
	p := filepath.Join(dir, "disk.img")
	run(t, "truncate", "-s", strconv.FormatInt(size, 10), p)
	for i, pc := range pieces {
		src := filepath.Join(t.TempDir(), "piece"+strconv.Itoa(i))
		require.NoError(t, os.WriteFile(src, pc.data, 0o600))
		run(t, "dd", "if="+src, "of="+p, "bs=64K", "seek="+strconv.FormatInt(pc.off, 10), "conv=notrunc", "status=none",
			"oflag=seek_bytes", "iflag=fullblock")
	}
	if zeroAlloc[1] > 0 {
		run(t, "fallocate", "-o", strconv.FormatInt(zeroAlloc[0], 10), "-l", strconv.FormatInt(zeroAlloc[1], 10), "-n", p)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
}

// pattern is n bytes of non-zero data seeded by seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed | 1
	}
	return b
}

// dataRanges lists the data regions of a file by SEEK_DATA/SEEK_HOLE.
func dataRanges(t *testing.T, path string) [][2]int64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	var out [][2]int64
	for pos := int64(0); pos < fi.Size(); {
		d, err := unix.Seek(int(f.Fd()), pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		require.NoError(t, err)
		h, err := unix.Seek(int(f.Fd()), d, unix.SEEK_HOLE)
		require.NoError(t, err)
		out = append(out, [2]int64{d, h})
		pos = h
	}
	return out
}

// assertHolesKept checks that every byte the target stores as data holds
// a non-zero block of the source: holes stayed holes.
func assertHolesKept(t *testing.T, src, dst string) {
	t.Helper()
	want, err := os.ReadFile(src)
	require.NoError(t, err)
	for _, r := range dataRanges(t, dst) {
		for off := r[0]; off < r[1] && off < int64(len(want)); off += zeroBlock {
			blk := want[off:min(off+zeroBlock, int64(len(want)))]
			assert.False(t, bytes.Equal(blk, make([]byte, len(blk))), "%s: the zero block at %d is allocated", dst, off)
		}
	}
}

// pipeConn is one end of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	s := <-ch
	require.NotNil(t, s)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// clone sends src to tgt over one loopback connection; it returns both
// ends' errors.
func clone(t *testing.T, ctx context.Context, src *Source, tgt *Target, wrap func(net.Conn) net.Conn) (Result, error, error) {
	t.Helper()
	c, s := tcpPair(t)
	if wrap != nil {
		c = wrap(c)
	}
	type out struct {
		res Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := tgt.Serve(ctx, s)
		s.Close()
		ch <- out{res, err}
	}()
	serr := src.Send(ctx, c, nil)
	c.Close()
	o := <-ch
	return o.res, serr, o.err
}

// cutConn fails every write after limit bytes, like a cut connection.
type cutConn struct {
	net.Conn
	limit int64
}

func (c *cutConn) Write(p []byte) (int, error) {
	if int64(len(p)) > c.limit {
		n, _ := c.Conn.Write(p[:c.limit])
		c.limit = 0
		c.Conn.Close()
		return n, io.ErrClosedPipe
	}
	c.limit -= int64(len(p))
	return c.Conn.Write(p)
}

// visible lists the entries of dir that are not hidden temporary files.
func visible(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
