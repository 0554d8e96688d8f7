package xz

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzMaxOut bounds the output read per fuzz input: a few bytes of LZMA2
// can expand to far more.
const fuzzMaxOut = 16 << 20

// errCapped marks output cut at fuzzMaxOut.
var errCapped = errors.New("output cap reached")

// FuzzReader feeds arbitrary input to every implementation: none may panic
// or hang, every failure must wrap one of the package's errors, and when two
// implementations both succeed (or both reach the output cap) their outputs
// must agree.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\xfd7zXZ\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		type result struct {
			name string
			out  []byte
			err  error
		}
		var results []result
		for _, dec := range []decoder{
			{name: "NewReader", open: NewReader, opts: Options{Threads: 2}},
			{name: "purego", open: func(r io.Reader, o Options) (io.ReadCloser, error) { return newPureGo(r, o) }},
		} {
			out, err := readCapped(t, dec, in)
			if err != nil && !errors.Is(err, errCapped) {
				require.True(t, isPackageError(err), "%s: error %q wraps none of the package's errors", dec.name, err)
			}
			results = append(results, result{dec.name, out, err})
		}
		a, b := results[0], results[1]
		if (a.err == nil && b.err == nil) || (errors.Is(a.err, errCapped) && errors.Is(b.err, errCapped)) {
			require.True(t, bytes.Equal(a.out, b.out), "%s and %s disagree", a.name, b.name)
		}
	})
}

// readCapped decodes in with dec under a 32 MiB memory limit, reading at
// most fuzzMaxOut bytes.
func readCapped(t *testing.T, dec decoder, in []byte) ([]byte, error) {
	t.Helper()
	r, err := dec.open(bytes.NewReader(in), Options{MemLimit: 32 << 20}.merge(dec.opts))
	require.NoError(t, err)
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, fuzzMaxOut))
	if err == nil && len(out) == fuzzMaxOut {
		err = errCapped
	}
	return out, err
}

// isPackageError reports whether err wraps one of the package's errors.
func isPackageError(err error) bool {
	for _, target := range []error{ErrFormat, ErrCorrupt, ErrTruncated, ErrMemLimit, ErrUnsupported} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
