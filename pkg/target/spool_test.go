package target

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zerosThen yields n zero bytes, then tail.
func zerosThen(n int64, tail []byte) io.Reader {
	return io.MultiReader(io.LimitReader(zeroSource{}, n), bytes.NewReader(tail))
}

// zeroSource yields zeros forever.
type zeroSource struct{}

func (zeroSource) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSpool(t *testing.T) {
	tests := []struct {
		name        string
		limit       int64
		in          func() io.Reader
		wantErr     error
		wantSize    int64
		maxAlloc    int64
		wantWritten int64
	}{
		{
			name: "zeros become holes", limit: 1 << 30,
			in:       func() io.Reader { return zerosThen(256<<20, bytes.Repeat([]byte{7}, 4096)) },
			wantSize: 256<<20 + 4096, maxAlloc: 64 << 10, wantWritten: 4096,
		},
		{
			name: "trailing zeros keep the size", limit: 1 << 30,
			in: func() io.Reader { return io.MultiReader(bytes.NewReader([]byte("head")), zerosThen(10<<20, nil)) },
			// The block holding data is written whole.
			wantSize: 10<<20 + 4, maxAlloc: 64 << 10, wantWritten: blockSize,
		},
		{
			name: "size over the limit, even as holes", limit: 8 << 20,
			in:      func() io.Reader { return zerosThen(64<<20, []byte{1}) },
			wantErr: ErrCapacity,
		},
		{
			name: "data over the limit", limit: 1 << 20,
			in:      func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{1}, 2<<20)) },
			wantErr: ErrCapacity,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := CreateSpool(dir, tt.limit)
			require.NoError(t, err)
			defer s.Remove()
			n, err := Copy(context.Background(), s, tt.in())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.ErrorContains(t, err, "the scratch space holds")
				s.Remove()
				entries, _ := os.ReadDir(dir)
				assert.Empty(t, entries, "Remove deletes the spool")
				return
			}
			require.NoError(t, err)
			require.NoError(t, s.Finish(n))
			fi, err := os.Stat(s.Path())
			require.NoError(t, err)
			assert.Equal(t, tt.wantSize, fi.Size())
			assert.Equal(t, tt.wantWritten, s.Written())
			assert.LessOrEqual(t, allocated(t, s.Path()), tt.maxAlloc, "zeros must be holes")
			s.Remove()
			_, err = os.Stat(s.Path())
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

// TestSpoolRemovesLeftovers: the spools of an interrupted import are
// removed when the next one starts; other files in the scratch space stay.
func TestSpoolRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".spool-123.partial", ".spool-x.partial", "keep.qcow2"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644))
	}
	s, err := CreateSpool(dir, 1<<20)
	require.NoError(t, err)
	defer s.Remove()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{filepath.Base(s.Path()), "keep.qcow2"}, names)
}
