package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// brokenReader yields s, then fails like a dropped connection.
type brokenReader struct{ r io.Reader }

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset by peer")
	}
	return n, err
}

func TestSpool(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sp, err := openSpool(dir, 0)
	require.NoError(t, err)
	require.NoError(t, sp.create(spoolState{ID: "u", Length: 10}))

	n, err := sp.write(ctx, &brokenReader{strings.NewReader("abcd")}, nil, nil, nil)
	assert.Error(t, err)
	assert.EqualValues(t, 4, n, "what arrived before the break is kept")

	sum := sha256.New()
	bad := sha256.Sum256([]byte("other"))
	_, err = sp.write(ctx, strings.NewReader("ef"), sum, bad[:], nil)
	assert.ErrorIs(t, err, errChecksum)
	st, _ := sp.state()
	assert.EqualValues(t, 4, st.Offset, "a mismatching chunk is discarded")

	good := sha256.Sum256([]byte("ef"))
	_, err = sp.write(ctx, strings.NewReader("ef"), sha256.New(), good[:], nil)
	require.NoError(t, err)

	_, err = sp.write(ctx, strings.NewReader("ghijKL"), nil, nil, nil)
	assert.ErrorIs(t, err, errTooLong, "never more than Upload-Length")

	// A new run of the container finds the upload, and cuts bytes written
	// after the last recorded offset.
	f, err := os.OpenFile(sp.DataPath(), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = f.WriteString("junk")
	require.NoError(t, f.Close())
	again, err := openSpool(dir, 0)
	require.NoError(t, err)
	st, ok := again.state()
	require.True(t, ok)
	assert.True(t, st.complete())
	b, err := os.ReadFile(again.DataPath())
	require.NoError(t, err)
	assert.Equal(t, "abcdefghij", string(b))
}
