package xz

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decoder is one implementation under test.
type decoder struct {
	name string
	open func(io.Reader, Options) (io.ReadCloser, error)
	opts Options // merged under each case's options
}

// decoders lists the implementations every case runs against: NewReader
// (liblzma with cgo) on one and two threads, and the pure-Go decoder.
func decoders() []decoder {
	return []decoder{
		{name: "NewReader/threads=2", open: NewReader, opts: Options{Threads: 2}},
		{name: "NewReader/threads=1", open: NewReader, opts: Options{Threads: 1}},
		{name: "purego", open: func(r io.Reader, o Options) (io.ReadCloser, error) { return newPureGo(r, o) }},
	}
}

// merge returns o with unset fields taken from d.
func (o Options) merge(d Options) Options {
	if o.Threads == 0 {
		o.Threads = d.Threads
	}
	if o.MemLimit == 0 {
		o.MemLimit = d.MemLimit
	}
	return o
}

// decodeAll decodes input with dec, returning the output and the error.
func decodeAll(t testing.TB, dec decoder, input io.Reader, opts Options) ([]byte, error) {
	t.Helper()
	r, err := dec.open(input, opts.merge(dec.opts))
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	return io.ReadAll(r)
}

func TestReader(t *testing.T) {
	data := image(t, 2*extent+12345, 1)
	other := image(t, extent+777, 2)
	fast := compress(t, data, "-1")
	fastOther := compress(t, other, "-1")
	multiBlock := compress(t, data, "-1", "-T2", "--block-size=256KiB")

	tests := []struct {
		name    string
		input   func(t *testing.T) []byte
		opts    Options
		want    []byte   // expected content, also checked against `xz -dc`
		wantErr error    // the sentinel the error wraps; `xz -dc` must fail too
		xzArgs  []string // more arguments for the reference `xz -dc`
	}{
		{name: "single stream, default preset", input: func(t *testing.T) []byte { return compress(t, data) }, want: data},
		{name: "check none", input: func(t *testing.T) []byte { return compress(t, data, "-1", "-C", "none") }, want: data},
		{name: "check crc32", input: func(t *testing.T) []byte { return compress(t, data, "-1", "-C", "crc32") }, want: data},
		{name: "check crc64", input: func(t *testing.T) []byte { return compress(t, data, "-1", "-C", "crc64") }, want: data},
		{name: "check sha256", input: func(t *testing.T) []byte { return compress(t, data, "-1", "-C", "sha256") }, want: data},
		{name: "multi-block", input: func(*testing.T) []byte { return multiBlock }, want: data},
		{name: "multi-block, 1 MiB blocks", input: func(t *testing.T) []byte { return compress(t, data, "-T2", "--block-size=1MiB") }, want: data},
		{
			name:  "multi-block under a memory limit that allows one thread",
			input: func(*testing.T) []byte { return multiBlock }, opts: Options{MemLimit: 3 << 20}, want: data,
		},
		{name: "x86 and delta filters", input: func(t *testing.T) []byte { return compress(t, data, "--x86", "--delta=dist=4", "--lzma2=preset=1") }, want: data},
		{name: "empty content", input: func(t *testing.T) []byte { return compress(t, nil) }, want: []byte{}},
		{name: "multi-stream", input: func(*testing.T) []byte { return concat(fast, fastOther) }, want: concat(data, other)},
		{name: "multi-stream with a multi-block stream", input: func(*testing.T) []byte { return concat(multiBlock, fastOther, multiBlock) }, want: concat(data, other, data)},
		{name: "stream padding at the end", input: func(*testing.T) []byte { return concat(fast, make([]byte, 4)) }, want: data},
		{name: "stream padding between streams", input: func(*testing.T) []byte { return concat(fast, make([]byte, 12), fastOther, make([]byte, 8)) }, want: concat(data, other)},

		{name: "empty input", input: func(*testing.T) []byte { return nil }, wantErr: ErrTruncated},
		{name: "truncated in the middle", input: func(*testing.T) []byte { return fast[:len(fast)/2] }, wantErr: ErrTruncated},
		{name: "truncated footer", input: func(*testing.T) []byte { return fast[:len(fast)-3] }, wantErr: ErrTruncated},
		{name: "truncated multi-block", input: func(*testing.T) []byte { return multiBlock[:len(multiBlock)*2/3] }, wantErr: ErrTruncated},
		{name: "truncated second stream", input: func(*testing.T) []byte { return concat(fast, fastOther[:100]) }, wantErr: ErrTruncated},
		{name: "corrupt byte in the middle", input: func(*testing.T) []byte { return flipByte(fast, len(fast)/2) }, wantErr: ErrCorrupt},
		{name: "corrupt byte in a multi-block stream", input: func(*testing.T) []byte { return flipByte(multiBlock, len(multiBlock)/2) }, wantErr: ErrCorrupt},
		{name: "corrupt stream flags", input: func(*testing.T) []byte { return flipByte(fast, 7) }, wantErr: ErrCorrupt},
		{name: "corrupt index", input: func(*testing.T) []byte { return flipByte(fast, len(fast)-14) }, wantErr: ErrCorrupt},
		{
			name:    "trailing garbage",
			input:   func(*testing.T) []byte { return concat(fast, []byte(strings.Repeat("trailing garbage ", 4))) },
			wantErr: ErrCorrupt,
		},
		{name: "stream padding not a multiple of four", input: func(*testing.T) []byte { return concat(fast, make([]byte, 3)) }, wantErr: ErrCorrupt},
		{name: "legacy .lzma file", input: func(t *testing.T) []byte { return compress(t, data, "--format=lzma", "-1") }, wantErr: ErrFormat},
		{name: "not compressed", input: func(*testing.T) []byte { return data[:4096] }, wantErr: ErrFormat},
		{name: "gzip file", input: func(t *testing.T) []byte { return gzipped(t, data) }, wantErr: ErrFormat},
		{name: "unsupported check type", input: func(t *testing.T) []byte { return withCheckID(t, compress(t, data, "-1", "-C", "crc32"), 0x02) }, wantErr: ErrUnsupported},
		{
			name:    "dictionary over the memory limit",
			input:   func(t *testing.T) []byte { return compress(t, data, "--lzma2=preset=1,dict=64MiB") },
			opts:    Options{MemLimit: 32 << 20},
			wantErr: ErrMemLimit,
			xzArgs:  []string{"--memlimit=32MiB"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			input := tc.input(t)
			ref, refErr := runXZ(t, input, append([]string{"--format=xz", "-dc"}, tc.xzArgs...)...)
			if tc.wantErr == nil {
				require.NoError(t, refErr, "xz -dc must accept the fixture")
				require.True(t, bytes.Equal(tc.want, ref), "xz -dc must return the original content")
			} else {
				require.Error(t, refErr, "xz -dc must reject the fixture")
			}
			for _, dec := range decoders() {
				t.Run(dec.name, func(t *testing.T) {
					got, err := decodeAll(t, dec, bytes.NewReader(input), tc.opts)
					if tc.wantErr != nil {
						t.Log(err)
						require.ErrorIs(t, err, tc.wantErr)
						return
					}
					require.NoError(t, err)
					require.Len(t, got, len(ref))
					require.True(t, bytes.Equal(ref, got), "output differs from xz -dc")
				})
			}
		})
	}
}

func TestReaderIOContract(t *testing.T) {
	data := image(t, extent+4321, 3)
	single := compress(t, data, "-1")
	multi := compress(t, data, "-1", "-T2", "--block-size=64KiB")
	sources := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{name: "one byte at a time", wrap: iotest.OneByteReader},
		{name: "half reads", wrap: iotest.HalfReader},
		{name: "data with EOF", wrap: iotest.DataErrReader},
	}
	for _, dec := range decoders() {
		for _, input := range []struct {
			name string
			xz   []byte
		}{{"single-block", single}, {"multi-block", multi}} {
			for _, src := range sources {
				t.Run(dec.name+"/"+input.name+"/"+src.name, func(t *testing.T) {
					r, err := dec.open(src.wrap(bytes.NewReader(input.xz)), dec.opts)
					require.NoError(t, err)
					defer r.Close()
					require.NoError(t, iotest.TestReader(r, data))
				})
			}
		}
	}
}

func TestReaderSourceError(t *testing.T) {
	data := image(t, 2*extent, 4)
	xzData := compress(t, data, "-1", "-T2", "--block-size=256KiB")
	errBoom := errors.New("connection reset")
	for _, dec := range decoders() {
		t.Run(dec.name, func(t *testing.T) {
			src := io.MultiReader(bytes.NewReader(xzData[:len(xzData)/2]), iotest.ErrReader(errBoom))
			got, err := decodeAll(t, dec, src, Options{})
			require.ErrorIs(t, err, errBoom)
			assert.Less(t, len(got), len(data))
		})
	}
}

func TestReaderClose(t *testing.T) {
	xzData := compress(t, image(t, extent, 5), "-1")
	for _, dec := range decoders() {
		t.Run(dec.name, func(t *testing.T) {
			r, err := dec.open(bytes.NewReader(xzData), dec.opts)
			require.NoError(t, err)
			buf := make([]byte, 1000)
			_, err = io.ReadFull(r, buf)
			require.NoError(t, err)
			require.NoError(t, r.Close())
			require.NoError(t, r.Close(), "Close is idempotent")
			_, err = r.Read(buf)
			require.ErrorIs(t, err, ErrClosed)
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{name: "zero value", opts: Options{}},
		{name: "explicit", opts: Options{Threads: 4, MemLimit: 64 << 20}},
		{name: "negative threads", opts: Options{Threads: -1}, wantErr: true},
		{name: "too many threads", opts: Options{Threads: maxThreads + 1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, dec := range decoders() {
				r, err := dec.open(bytes.NewReader(nil), tc.opts)
				if tc.wantErr {
					require.Error(t, err, dec.name)
					continue
				}
				require.NoError(t, err, dec.name)
				require.NoError(t, r.Close())
			}
		})
	}
}

func TestImplementation(t *testing.T) {
	assert.Regexp(t, `^(liblzma \d+\.\d+\.\d+ \(cgo, \d+ threads\)|therootcompany/xz \(pure Go\))$`, Implementation())
}
