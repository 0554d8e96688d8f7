package clonestream

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// makeTree makes a tree with every entry type and names that are hard to
// parse.
func makeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"disk.img":                    nil, // sparse, below
		"a/b/c.txt":                   []byte("nested\n"),
		"name with spaces & 'quotes'": []byte("spaces"),
		"ünïcödé/файл":                []byte("utf-8"),
		"-leading-dash":               []byte("dash"),
		"new\nline":                   []byte("newline in a name"),
		"empty":                       {},
		"a/" + string(make([]byte, 0)) + "x_" + string(repeat('n', 200)): []byte("long name"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		if name == "disk.img" {
			makeImage(t, filepath.Dir(p), 8<<20, []piece{{3 << 20, pattern(5000, 2)}}, [2]int64{})
			continue
		}
		require.NoError(t, os.WriteFile(p, data, 0o640))
	}
	require.NoError(t, os.Chmod(filepath.Join(dir, "a/b/c.txt"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "emptydir"), 0o750))
	require.NoError(t, os.Symlink("b/c.txt", filepath.Join(dir, "a/link")))
	require.NoError(t, os.Symlink("../disk.img", filepath.Join(dir, "a/up")))
	require.NoError(t, os.Symlink("dangling", filepath.Join(dir, "dangling-link")))
	require.NoError(t, os.Link(filepath.Join(dir, "a/b/c.txt"), filepath.Join(dir, "hard")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, lostFound), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, lostFound, "#123"), []byte("fsck"), 0o600))
	return dir
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

// treeOf describes every entry under dir: type, permissions, content or
// link target.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		if rel == "." || rel == lostFound || filepath.Dir(rel) == lostFound {
			return nil
		}
		fi, err := d.Info()
		require.NoError(t, err)
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			require.NoError(t, err)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			desc += " " + string(b)
		}
		out[rel] = desc
		return nil
	}))
	return out
}

func inode(t *testing.T, p string) uint64 {
	fi, err := os.Lstat(p)
	require.NoError(t, err)
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestCloneTree(t *testing.T) {
	srcDir, dstDir := makeTree(t), t.TempDir()
	src, err := OpenSource(SourceOptions{Path: srcDir, Tree: true, Credential: testCred, Compression: CompressZstd})
	require.NoError(t, err)
	defer src.Close()
	assert.Equal(t, KindTree, src.Header().Kind)
	tgt := NewTarget(context.Background(), TargetOptions{Path: dstDir, Credential: testCred})
	_, serr, terr := clone(t, context.Background(), src, tgt, nil)
	require.NoError(t, serr)
	require.NoError(t, terr)

	assert.Equal(t, treeOf(t, srcDir), treeOf(t, dstDir))
	assert.NoDirExists(t, filepath.Join(dstDir, lostFound), "lost+found is the file system's, not the claim's")
	assert.Equal(t, inode(t, filepath.Join(dstDir, "a/b/c.txt")), inode(t, filepath.Join(dstDir, "hard")), "a hard link stays one")
	assertHolesKept(t, filepath.Join(srcDir, "disk.img"), filepath.Join(dstDir, "disk.img"))
}

// TestTreeRestarts: a tree cannot resume; after a cut the next
// connection starts over and nothing partial is published.
func TestTreeRestarts(t *testing.T) {
	srcDir, dstDir := makeTree(t), t.TempDir()
	src, err := OpenSource(SourceOptions{Path: srcDir, Tree: true, Credential: testCred, Compression: CompressNone})
	require.NoError(t, err)
	defer src.Close()
	tgt := NewTarget(context.Background(), TargetOptions{Path: dstDir, Credential: testCred})
	_, serr, _ := clone(t, context.Background(), src, tgt, func(c net.Conn) net.Conn { return &cutConn{Conn: c, limit: 2000} })
	require.True(t, Retryable(serr), "%v", serr)
	_, serr, terr := clone(t, context.Background(), src, tgt, nil)
	require.NoError(t, serr)
	require.NoError(t, terr)
	assert.Equal(t, treeOf(t, srcDir), treeOf(t, dstDir))
}
