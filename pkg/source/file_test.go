package source

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFile(t *testing.T) {
	data := testData(1<<20 + 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.img")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	ctx := context.Background()

	for _, raw := range []string{path, "file://" + path} {
		t.Run(raw, func(t *testing.T) {
			src, err := New(ctx, raw, Options{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = src.(io.Closer).Close() })
			assert.True(t, src.Ranges())
			assert.Equal(t, int64(len(data)), src.Size())
			assert.Equal(t, path, src.String())

			rc, err := src.Open(ctx, 1000, 5000)
			require.NoError(t, err)
			got, err := io.ReadAll(rc)
			require.NoError(t, err)
			require.NoError(t, rc.Close())
			require.Equal(t, data[1000:6000], got)

			// io.Copy into a file takes the WriterTo path.
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			require.NoError(t, err)
			rc, err = src.Open(ctx, 7, -1)
			require.NoError(t, err)
			n, err := io.Copy(out, rc)
			require.NoError(t, err)
			require.NoError(t, rc.Close())
			require.NoError(t, out.Close())
			require.Equal(t, int64(len(data)-7), n)
			written, err := os.ReadFile(out.Name())
			require.NoError(t, err)
			require.True(t, bytes.Equal(data[7:], written))

			ra := NewReaderAt(ctx, src)
			assert.Same(t, src, ra, "a file source is its own ReaderAt")
			buf := make([]byte, 10)
			_, err = ra.ReadAt(buf, 99)
			require.NoError(t, err)
			require.Equal(t, data[99:109], buf)
		})
	}
}

func TestFileErrors(t *testing.T) {
	ctx := context.Background()
	_, err := New(ctx, filepath.Join(t.TempDir(), "missing.img"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = New(ctx, t.TempDir(), Options{})
	require.ErrorContains(t, err, "directory")
	_, err = New(ctx, "file://otherhost/x", Options{})
	require.ErrorContains(t, err, "only local files")
}

func TestStdin(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{"-", "stdin:"} {
		src, err := New(ctx, raw, Options{Stdin: strings.NewReader("hello world")})
		require.NoError(t, err)
		assert.False(t, src.Ranges())
		assert.Equal(t, int64(-1), src.Size())
		_, err = src.Open(ctx, 3, -1)
		require.ErrorIs(t, err, ErrNoRanges)
		rc, err := src.Open(ctx, 0, -1)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.Equal(t, "hello world", string(got))
		_, err = src.Open(ctx, 0, -1)
		require.ErrorContains(t, err, "only once")
	}
	_, err := New(ctx, "-", Options{})
	require.ErrorContains(t, err, "stdin")
}

func TestNewSchemes(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{"ftp://h/x", "gopher://h/x", "docker://registry/image"} {
		_, err := New(ctx, raw, Options{})
		require.ErrorIs(t, err, ErrUnsupportedScheme, raw)
	}
	_, err := New(ctx, "", Options{})
	require.Error(t, err)
	_, err = New(ctx, "s3://bucket-only", Options{})
	require.ErrorContains(t, err, "s3://bucket/key")
	_, err = New(ctx, "s3://b/k", Options{S3Endpoint: "127.0.0.1:9000"})
	require.ErrorContains(t, err, "http(s)://host")
}

func TestOptionsFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, AccessKeyFile), []byte("user\n"), 0o600))
	_, err := New(ctx, "http://127.0.0.1:1/x", Options{SecretDir: dir})
	require.ErrorContains(t, err, "no secretKey file")

	require.NoError(t, os.WriteFile(filepath.Join(dir, SecretKeyFile), []byte("pass\r\n"), 0o600))
	c, err := loadCredentials(dir)
	require.NoError(t, err)
	require.Equal(t, "user", c.user)
	require.Equal(t, "pass", c.password)
	require.NotContains(t, c.String(), "pass")

	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "README"), []byte("not a cert"), 0o600))
	_, err = New(ctx, "https://127.0.0.1:1/x", Options{CertDir: empty})
	require.ErrorContains(t, err, "no PEM certificate")
}
