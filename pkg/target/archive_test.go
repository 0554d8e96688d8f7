package target

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entry is one tar entry of a test archive.
type entry struct {
	name, link string
	typ        byte
	body       string
}

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: 0o644, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		require.NoError(t, tw.WriteHeader(hdr))
		if hdr.Size > 0 {
			_, err := tw.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func extractAll(dir string, data []byte, size int64) error {
	x, err := Extract(context.Background(), tar.NewReader(bytes.NewReader(data)), dir, ArchiveOptions{Size: size})
	if err != nil {
		return err
	}
	return x.Publish()
}

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	data := tarOf(t,
		entry{name: "dir/", typ: tar.TypeDir},
		entry{name: "dir/a.txt", body: "hello"},
		entry{name: "./b.txt", body: "world"},
		entry{name: "dir/link", link: "a.txt", typ: tar.TypeSymlink},
		entry{name: "hard", link: "b.txt", typ: tar.TypeLink},
	)
	require.NoError(t, extractAll(dir, data, 0))
	for name, want := range map[string]string{"dir/a.txt": "hello", "b.txt": "world", "dir/link": "hello", "hard": "world"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, want, string(got), name)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".extract-*"))
	assert.Empty(t, left, "the staging directory is removed")
}

func TestExtractRefusesEscapes(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dot-dot", []entry{{name: "../evil", body: "x"}}, "climbs out"},
		{"nested dot-dot", []entry{{name: "a/../../evil", body: "x"}}, "climbs out"},
		{"absolute", []entry{{name: "/etc/evil", body: "x"}}, "absolute path"},
		{"absolute symlink", []entry{{name: "l", link: "/etc", typ: tar.TypeSymlink}}, "points outside"},
		{"relative symlink out", []entry{{name: "a/l", link: "../../x", typ: tar.TypeSymlink}}, "points outside"},
		{"hard link out", []entry{{name: "h", link: "../x", typ: tar.TypeLink}}, "points outside"},
		{"write through symlink", []entry{
			{name: "l", link: ".", typ: tar.TypeSymlink},
			{name: "d", link: "l/..", typ: tar.TypeSymlink},
		}, "leads outside"},
		{"dangling through symlink", []entry{
			{name: "l", link: ".", typ: tar.TypeSymlink},
			{name: "d", link: "l/../missing", typ: tar.TypeSymlink},
		}, "leads outside"},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}, "unsupported type"},
		{"fifo", []entry{{name: "fifo", typ: tar.TypeFifo}}, "unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "target")
			require.NoError(t, os.Mkdir(dir, 0o755))
			err := extractAll(dir, tarOf(t, append([]entry{{name: "ok.txt", body: "fine"}}, tt.entries...)...), 0)
			require.ErrorIs(t, err, ErrUnsafeArchive)
			assert.ErrorContains(t, err, tt.want)
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries, "nothing is published from a refused archive")
			outside, _ := os.ReadDir(parent)
			assert.Len(t, outside, 1, "nothing is written outside the target")
		})
	}
}

func TestExtractCapacity(t *testing.T) {
	dir := t.TempDir()
	err := extractAll(dir, tarOf(t, entry{name: "a", body: "12345"}, entry{name: "b", body: "67890"}), 8)
	require.ErrorIs(t, err, ErrCapacity)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

func TestExtractTruncated(t *testing.T) {
	data := tarOf(t, entry{name: "a", body: string(bytes.Repeat([]byte("x"), 5000))})
	dir := t.TempDir()
	err := extractAll(dir, data[:2048], 0)
	require.Error(t, err)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

// TestExtractRealTar extracts an archive made by the tar tool, with a
// sparse file.
func TestExtractRealTar(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "tree/sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "tree/sub/f"), []byte("content"), 0o600))
	sparse, err := os.Create(filepath.Join(src, "tree/sparse"))
	require.NoError(t, err)
	_, err = sparse.WriteAt([]byte("end"), 10<<20)
	require.NoError(t, err)
	require.NoError(t, sparse.Close())
	archive := filepath.Join(t.TempDir(), "a.tar")
	out, err := exec.Command("tar", "-C", src, "--sparse", "-cf", archive, "tree").CombinedOutput()
	require.NoError(t, err, string(out))

	data, err := os.ReadFile(archive)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, extractAll(dir, data, 0))
	got, err := os.ReadFile(filepath.Join(dir, "tree/sub/f"))
	require.NoError(t, err)
	assert.Equal(t, "content", string(got))
	fi, err := os.Stat(filepath.Join(dir, "tree/sparse"))
	require.NoError(t, err)
	assert.Equal(t, int64(10<<20+3), fi.Size())
	assert.Less(t, allocated(t, filepath.Join(dir, "tree/sparse")), int64(1<<20), "holes stay holes")
}

// FuzzExtract feeds arbitrary archives to Extract: it must never panic
// and never write outside the target directory.
func FuzzExtract(f *testing.F) {
	f.Add(tarOf(f, entry{name: "a", body: "x"}, entry{name: "d/", typ: tar.TypeDir}))
	f.Add(tarOf(f, entry{name: "l", link: "../x", typ: tar.TypeSymlink}))
	f.Add(tarOf(f, entry{name: "l", link: "sub", typ: tar.TypeSymlink}, entry{name: "l/f", body: "y"}))
	f.Add(tarOf(f, entry{name: "h", link: "a", typ: tar.TypeLink}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "target")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = extractAll(dir, data, 1<<20)
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 1 {
			t.Fatalf("something was written outside the target: %v", entries)
		}
	})
}
