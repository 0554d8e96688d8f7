package target

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
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
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3)
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
		{"climb through a symlink", []entry{
			{name: "l", link: ".", typ: tar.TypeSymlink},
			{name: "d", link: "l/..", typ: tar.TypeSymlink},
		}, "points outside"},
		{"dangling, then climbing", []entry{
			{name: "d", link: "missing/../..", typ: tar.TypeSymlink},
		}, "points outside"},
		{"climb after descending", []entry{
			{name: "a/", typ: tar.TypeDir},
			{name: "a/b/", typ: tar.TypeDir},
			{name: "a/b/l", link: "../x/../..", typ: tar.TypeSymlink},
		}, "points outside"},
		{"more leading dot-dots than parents", []entry{{name: "a/b/l", link: "../../../x", typ: tar.TypeSymlink}}, "points outside"},
		// A hard link to a symlink is a second symlink elsewhere: "../x" is
		// inside from a/, outside from the top.
		{"hard link to a symlink that escapes from its new place", []entry{
			{name: "a/l", link: "../x", typ: tar.TypeSymlink},
			{name: "h", link: "a/l", typ: tar.TypeLink},
		}, "points outside"},
		{"hard link to a directory", []entry{{name: "d/", typ: tar.TypeDir}, {name: "h", link: "d", typ: tar.TypeLink}}, "directory"},
		{"file through a symlink", []entry{
			{name: "sub/", typ: tar.TypeDir},
			{name: "l", link: "sub", typ: tar.TypeSymlink},
			{name: "l/f", body: "x"},
		}, "leads through the symbolic link"},
		{"reserved staging name", []entry{{name: ".extract-1.partial/x", body: "x"}}, "reserves"},
		{"reserved legacy staging name", []entry{{name: ".extract-123", typ: tar.TypeDir}}, "reserves"},
		{"reserved partial image name", []entry{{name: ".disk.img-7.partial", body: "x"}}, "reserves"},
		{"symlink target longer than PATH_MAX", []entry{{name: "l", link: strings.Repeat("a/", 3000), typ: tar.TypeSymlink}}, "points outside"},
		{"name longer than PATH_MAX", []entry{{name: strings.Repeat("d/", 3000) + "f", body: "x"}}, "longer than"},
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
	many := func(n int, e func(i int) entry) []entry {
		var out []entry
		for i := range n {
			out = append(out, e(i))
		}
		return out
	}
	deep := strings.Repeat("d/", 40) + "f"
	tests := []struct {
		name    string
		entries []entry
		opts    ArchiveOptions
		want    error
	}{
		{"data over the size", []entry{{name: "a", body: "12345"}, {name: "b", body: "67890"}}, ArchiveOptions{Size: 8}, ErrCapacity},
		{"data and entries fit", []entry{{name: "a", body: "12345"}, {name: "b", body: "67890"}}, ArchiveOptions{Size: 2*EntryCost + 10}, nil},
		{"data fits, entries do not", []entry{{name: "a", body: "12345"}, {name: "b", body: "67890"}}, ArchiveOptions{Size: 2*EntryCost + 9}, ErrCapacity},
		{"empty files", many(100, func(i int) entry { return entry{name: fmt.Sprintf("f%d", i)} }), ArchiveOptions{Size: 64 << 10}, ErrCapacity},
		{"empty directories", many(100, func(i int) entry { return entry{name: fmt.Sprintf("d%d/", i), typ: tar.TypeDir} }), ArchiveOptions{Size: 64 << 10}, ErrCapacity},
		{"symlinks", many(100, func(i int) entry { return entry{name: fmt.Sprintf("l%d", i), link: "x", typ: tar.TypeSymlink} }), ArchiveOptions{Size: 64 << 10}, ErrCapacity},
		{"directories implied by one name", []entry{{name: deep, body: "x"}}, ArchiveOptions{Size: 32 * EntryCost}, ErrCapacity},
		{"directories implied by one name fit", []entry{{name: deep, body: "x"}}, ArchiveOptions{Size: 41*EntryCost + 1}, nil},
		{"entries over the cap", many(11, func(i int) entry { return entry{name: fmt.Sprintf("f%d", i)} }), ArchiveOptions{MaxEntries: 10}, ErrTooManyEntries},
		{"entries at the cap", many(10, func(i int) entry { return entry{name: fmt.Sprintf("f%d", i)} }), ArchiveOptions{MaxEntries: 10}, nil},
		{"implied directories count as entries", []entry{{name: "a/b/c/f"}}, ArchiveOptions{MaxEntries: 3}, ErrTooManyEntries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			x, err := Extract(context.Background(), tar.NewReader(bytes.NewReader(tarOf(t, tt.entries...))), dir, tt.opts)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				entries, _ := os.ReadDir(dir)
				assert.Empty(t, entries, "nothing is published, the staging directory is removed")
				return
			}
			require.NoError(t, err)
			require.NoError(t, x.Publish())
		})
	}
}

// TestExtractRemovesLeftovers: the staging directories and partial images
// of an interrupted import are removed by the next one; other hidden names
// stay.
func TestExtractRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{".extract-123.partial/sub", ".extract-4567", ".extract-notmine"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, d, "f"), []byte("junk"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".disk.img-9.partial"), []byte("junk"), 0o644))
	require.NoError(t, extractAll(dir, tarOf(t, entry{name: "a", body: "x"}), 0))
	var names []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{".extract-notmine", "a"}, names)
}

// TestExtractLaterImports: links left by one import are safe whatever a
// later import into the same directory adds, and a later import replaces
// a top-level entry as a whole.
func TestExtractLaterImports(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "target")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, extractAll(dir, tarOf(t,
		entry{name: "l", link: ".", typ: tar.TypeSymlink},
		entry{name: "sub/deep/", typ: tar.TypeDir},
		entry{name: "sub/up", link: "../x", typ: tar.TypeSymlink},
	), 0))
	// Each of these would lead out of dir through what the first import left.
	for _, e := range [][]entry{
		{{name: "d", link: "l/..", typ: tar.TypeSymlink}},
		{{name: "d", link: "l/sub/../..", typ: tar.TypeSymlink}},
	} {
		err := extractAll(dir, tarOf(t, e...), 0)
		require.ErrorIs(t, err, ErrUnsafeArchive, "%+v", e)
	}
	// A later import is extracted into its own staging directory, never
	// through what an earlier one left: l/f makes l a directory.
	require.NoError(t, extractAll(dir, tarOf(t, entry{name: "l/f", body: "x"}), 0))
	fi, err := os.Lstat(filepath.Join(dir, "l"))
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	require.NoError(t, extractAll(dir, tarOf(t, entry{name: "l", link: ".", typ: tar.TypeSymlink}), 0))
	// A later import replaces sub with a link; the old sub/up goes with it.
	require.NoError(t, extractAll(dir, tarOf(t, entry{name: "sub", link: "l", typ: tar.TypeSymlink}), 0))
	_, err = os.Lstat(filepath.Join(dir, "sub", "up"))
	require.Error(t, err)
	outside, _ := os.ReadDir(parent)
	assert.Len(t, outside, 1, "nothing is written outside the target")
	requireLinksInside(t, dir)
}

// TestExtractReplaces: an entry replaces an earlier one of the same name
// instead of writing through it, as tar does.
func TestExtractReplaces(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, extractAll(dir, tarOf(t,
		entry{name: "a", body: "first"},
		entry{name: "h", link: "a", typ: tar.TypeLink},
		entry{name: "a", body: "second"},
		entry{name: "l", link: "a", typ: tar.TypeSymlink},
		entry{name: "l", body: "file now"},
		entry{name: "s", body: "file first"},
		entry{name: "s", link: "a", typ: tar.TypeSymlink},
	), 0))
	for name, want := range map[string]string{"a": "second", "h": "first", "l": "file now", "s": "second"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, want, string(got), name)
	}
	fi, err := os.Lstat(filepath.Join(dir, "s"))
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink)
}

func TestExtractEmpty(t *testing.T) {
	for name, data := range map[string][]byte{
		"no entries":     tarOf(t),
		"only the root":  tarOf(t, entry{name: "./", typ: tar.TypeDir}),
		"only zero data": make([]byte, 10240),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.ErrorIs(t, extractAll(dir, data, 0), ErrEmptyArchive)
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries)
		})
	}
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
	// The classes of hostile and odd archives (more, made by the tar tool,
	// in testdata/fuzz/FuzzExtract; see TestWriteFuzzCorpus).
	f.Add(tarOf(f, entry{name: "a/l", link: "../x", typ: tar.TypeSymlink}, entry{name: "h", link: "a/l", typ: tar.TypeLink}))
	f.Add(tarOf(f, entry{name: "l", link: ".", typ: tar.TypeSymlink}, entry{name: "d", link: "l/..", typ: tar.TypeSymlink}))
	f.Add(tarOf(f, entry{name: "a/b/l", link: "../../c/d", typ: tar.TypeSymlink}, entry{name: "c/d", body: "z"}))
	f.Add(tarOf(f, entry{name: "e1"}, entry{name: "e2"}, entry{name: "d1/", typ: tar.TypeDir}, entry{name: "d2/", typ: tar.TypeDir}))
	f.Add(tarOf(f, entry{name: strings.Repeat("d/", 60) + "f", body: "deep"}))
	f.Add(tarOf(f, entry{name: "a", body: "1"}, entry{name: "h", link: "a", typ: tar.TypeLink}, entry{name: "a", link: "h", typ: tar.TypeSymlink}, entry{name: "a", body: "2"}))
	f.Add(tarOf(f, entry{name: ".extract-1.partial/f", body: "x"}, entry{name: ".disk.img-1.partial", body: "x"}))
	f.Add(tarOf(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "target")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// The input is imported between what an earlier and a later import
		// may leave: links a hostile archive would like to combine with its
		// own ("d" -> "l/.." with "l" -> ".").
		putNeighbours(t, dir)
		x, err := Extract(context.Background(), tar.NewReader(bytes.NewReader(data)), dir, ArchiveOptions{Size: 1 << 20, MaxEntries: 1000})
		if err == nil {
			_ = x.Publish()
		}
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 1 {
			t.Fatalf("something was written outside the target: %v", entries)
		}
		requireLinksInside(t, dir)
		putNeighbours(t, dir)
		requireLinksInside(t, dir)
	})
}

// putNeighbours puts into dir what another import may have left there (as
// Publish does, replacing top-level entries of the same names, but without
// its fsyncs, which would slow the fuzzer down a hundredfold).
func putNeighbours(t testing.TB, dir string) {
	t.Helper()
	for _, top := range []string{"l", "sub", "a"} {
		require.NoError(t, os.RemoveAll(filepath.Join(dir, top)))
	}
	require.NoError(t, os.Symlink(".", filepath.Join(dir, "l")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755))
	require.NoError(t, os.Symlink("..", filepath.Join(dir, "sub", "up")))
	require.NoError(t, os.Symlink("sub/deep", filepath.Join(dir, "a")))
}

// requireLinksInside fails if a symbolic link in dir resolves (or would
// resolve, up to a missing name) outside dir.
func requireLinksInside(t testing.TB, dir string) {
	t.Helper()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if _, err := root.Stat(rel); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ELOOP) {
			t.Fatalf("symlink %s leads outside the target: %v", rel, err)
		}
		return nil
	})
	require.NoError(t, err)
}

// TestExtractRealTarFormats extracts archives the tar tool writes in every
// format it has, with the entries an image tree may start with.
func TestExtractRealTarFormats(t *testing.T) {
	tooltest.Need(t, "tar")
	src := t.TempDir()
	tooltest.Sh(t, src, `
mkdir -p tree/dir && printf 'content' > tree/dir/f && : > tree/empty && ln -s dir/f tree/link
for f in v7 oldgnu gnu ustar pax; do tar -C tree --format=$f -cf $f.tar dir empty link; done
tar -C tree -V "volume 1 of /var" -cf label.tar dir empty link
tar -C tree -cf empty-first.tar empty dir link
tar -cf empty.tar -T /dev/null
mkdir -p hl/a && ln -s ../x hl/a/l && ln hl/a/l hl/h && tar -C hl -cf hardlink-to-symlink.tar a h
`)
	tests := []struct {
		file string
		want error
	}{
		{file: "v7.tar"}, {file: "oldgnu.tar"}, {file: "gnu.tar"}, {file: "ustar.tar"}, {file: "pax.tar"},
		{file: "label.tar"}, {file: "empty-first.tar"},
		{file: "empty.tar", want: ErrEmptyArchive},
		{file: "hardlink-to-symlink.tar", want: ErrUnsafeArchive},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(src, tt.file))
			require.NoError(t, err)
			dir := t.TempDir()
			err = extractAll(dir, data, 0)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				entries, _ := os.ReadDir(dir)
				assert.Empty(t, entries)
				return
			}
			require.NoError(t, err)
			for name, want := range map[string]string{"dir/f": "content", "empty": "", "link": "content"} {
				got, err := os.ReadFile(filepath.Join(dir, name))
				require.NoError(t, err, name)
				assert.Equal(t, want, string(got), name)
			}
			entries, _ := os.ReadDir(dir)
			assert.Len(t, entries, 3, "the volume label is no file")
		})
	}
}

// TestWriteFuzzCorpus regenerates the seed archives of FuzzExtract that
// only the tar tool makes (formats archive/tar does not write). Run it with
// TARGET_WRITE_FUZZ_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("TARGET_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set TARGET_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz/FuzzExtract")
	}
	tooltest.Need(t, "tar")
	src := t.TempDir()
	// -b 1: records of one block, so that the seeds stay small.
	tooltest.Sh(t, src, `
mkdir -p tree/dir && printf 'content' > tree/dir/f && : > tree/empty && ln -s dir/f tree/link
mkdir -p hl/a && ln -s ../x hl/a/l && ln hl/a/l hl/h
mkdir -p many && for i in $(seq 1 10); do mkdir many/d$i; : > many/e$i; done
tar -b 1 -C tree --format=v7 -cf v7 dir empty link
tar -b 1 -C tree -V "volume 1" -cf label dir link
tar -b 1 -C tree -cf empty-first empty dir
tar -b 1 -cf empty -T /dev/null
tar -b 1 -C hl -cf hardlink-to-symlink a h
tar -b 1 -C many -cf many-empty .
`)
	out := filepath.Join("testdata", "fuzz", "FuzzExtract")
	require.NoError(t, os.MkdirAll(out, 0o755))
	for _, name := range []string{"v7", "label", "empty-first", "empty", "hardlink-to-symlink", "many-empty"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		entry := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		require.NoError(t, os.WriteFile(filepath.Join(out, name), []byte(entry), 0o644))
		t.Logf("%s: %d bytes", name, len(b))
	}
}
