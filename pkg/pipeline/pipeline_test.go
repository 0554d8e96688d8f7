package pipeline

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
	"github.com/cdi-functions/cdi-functions/pkg/image"
	"github.com/cdi-functions/cdi-functions/pkg/source"
	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// importFile runs an import of the file at path into a new target
// directory, read through range requests or, without ranges, as one
// stream (as from a server that ignores Range). It returns the target.
func importFile(t *testing.T, path string, ranges bool, req Request) (string, Result, error) {
	t.Helper()
	ctx := context.Background()
	var src source.Source
	var err error
	if ranges {
		src, err = source.New(ctx, path, source.Options{})
	} else {
		var f *os.File
		f, err = os.Open(path)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		src, err = source.New(ctx, "-", source.Options{Stdin: f})
	}
	require.NoError(t, err)
	if c, ok := src.(io.Closer); ok {
		t.Cleanup(func() { c.Close() })
	}
	if req.Target == "" {
		req.Target = t.TempDir()
	}
	req.Source = src
	res, err := Run(ctx, req)
	return req.Target, res, err
}

// allocated is the number of bytes a file occupies on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(path, &st))
	return st.Blocks * 512
}

// requireOnlyDisk checks that the target holds disk.img with want's content
// and nothing else.
func requireOnlyDisk(t *testing.T, dir, want string) {
	t.Helper()
	w, err := os.ReadFile(want)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, target.DiskName))
	require.NoError(t, err)
	require.Equal(t, len(w), len(got), "size of disk.img")
	require.True(t, bytes.Equal(w, got), "content of disk.img")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "only disk.img is left")
}

// TestImportValidImages imports images that were refused or came out wrong
// before: each must produce what qemu-img convert -O raw produces.
func TestImportValidImages(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io", "tar", "gzip", "pigz", "xz", "zstd", "pzstd")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `
head -c 1000 /dev/urandom > odd.raw
head -c 1048577 /dev/urandom > odd-1m.raw
head -c 2M /dev/urandom > disk.raw
for f in odd odd-1m disk; do qemu-img convert -f raw -O raw $f.raw $f.want; done
# Clusters shared with internal snapshots (refcount 2), clean for qemu-img check.
qemu-img convert -f raw -O qcow2 disk.raw snap.qcow2
qemu-img snapshot -c one snap.qcow2
qemu-io -f qcow2 -c "write -P 0x5a 64K 128K" snap.qcow2 >/dev/null
qemu-img snapshot -c two snap.qcow2
qemu-img check -q snap.qcow2
qemu-img convert -f qcow2 -O raw snap.qcow2 snap.want
xz -k -T1 snap.qcow2; tar -cf snap.tar snap.qcow2
# Long gzip header fields.
pigz -k -c -C "$(head -c 70000 /dev/zero | tr '\0' c)" disk.raw > comment.raw.gz
# zstd starting with a skippable frame.
pzstd -q -p 2 disk.raw -o disk.raw.pz
# The image after a directory, an empty file, a volume label; V7 tar.
mkdir -p tree/dir && cp disk.raw tree/ && : > tree/empty
tar -C tree -cf dir-first.tar dir disk.raw
tar -C tree -cf empty-first.tar empty disk.raw
tar -C tree -cf dir-empty-first.tar.gz -z dir empty disk.raw
tar -C tree -V "backup 1" -cf label.tar disk.raw
tar -C tree --format=v7 -cf v7.tar empty disk.raw
cp odd.raw tree/odd.img && tar -C tree -cf odd.tar odd.img
`)
	tests := []struct {
		file   string
		want   string
		ranges bool
		layers []image.Format
	}{
		{file: "odd.raw", want: "odd.want", ranges: true, layers: []image.Format{image.Raw}},
		{file: "odd-1m.raw", want: "odd-1m.want", layers: []image.Format{image.Raw}},
		{file: "odd.tar", want: "odd.want", layers: []image.Format{image.Tar, image.Raw}},
		{file: "snap.qcow2", want: "snap.want", ranges: true, layers: []image.Format{image.Qcow2}},
		{file: "snap.qcow2", want: "snap.want", layers: []image.Format{image.Qcow2}},
		{file: "snap.qcow2.xz", want: "snap.want", layers: []image.Format{image.Xz, image.Qcow2}},
		{file: "snap.tar", want: "snap.want", layers: []image.Format{image.Tar, image.Qcow2}},
		{file: "comment.raw.gz", want: "disk.want", layers: []image.Format{image.Gzip, image.Raw}},
		{file: "disk.raw.pz", want: "disk.want", layers: []image.Format{image.Zstd, image.Raw}},
		{file: "dir-first.tar", want: "disk.want", layers: []image.Format{image.Tar, image.Raw}},
		{file: "empty-first.tar", want: "disk.want", layers: []image.Format{image.Tar, image.Raw}},
		{file: "dir-empty-first.tar.gz", want: "disk.want", layers: []image.Format{image.Gzip, image.Tar, image.Raw}},
		{file: "label.tar", want: "disk.want", layers: []image.Format{image.Tar, image.Raw}},
		{file: "v7.tar", want: "disk.want", layers: []image.Format{image.Tar, image.Raw}},
	}
	for _, tt := range tests {
		name := tt.file
		if tt.ranges {
			name += " ranges"
		}
		t.Run(name, func(t *testing.T) {
			scratch := t.TempDir()
			out, res, err := importFile(t, filepath.Join(dir, tt.file), tt.ranges, Request{Scratch: scratch})
			require.NoError(t, err)
			assert.Equal(t, tt.layers, res.Layers)
			requireOnlyDisk(t, out, filepath.Join(dir, tt.want))
			fi, err := os.Stat(filepath.Join(dir, tt.want))
			require.NoError(t, err)
			assert.Equal(t, fi.Size(), res.Size)
			entries, _ := os.ReadDir(scratch)
			assert.Empty(t, entries, "the spool is removed")
		})
	}
}

// TestImportSpoolIsSparse spools a qcow2 file of mostly zeros (metadata
// preallocation, inside a sparse tar): the zeros must become holes in the
// scratch space, not be written out.
func TestImportSpoolIsSparse(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io", "tar")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `
qemu-img create -q -f qcow2 -o preallocation=metadata prealloc.qcow2 256M
qemu-io -f qcow2 -c "write -P 0x11 100M 64K" prealloc.qcow2 >/dev/null
tar --sparse -cf prealloc.tar prealloc.qcow2
qemu-img convert -f qcow2 -O raw prealloc.qcow2 prealloc.want
`)
	fi, err := os.Stat(filepath.Join(dir, "prealloc.qcow2"))
	require.NoError(t, err)
	require.Greater(t, fi.Size(), int64(256<<20), "the qcow2 file is as long as its virtual size")
	scratch := t.TempDir()
	out, res, err := importFile(t, filepath.Join(dir, "prealloc.tar"), false, Request{Scratch: scratch})
	require.NoError(t, err)
	requireOnlyDisk(t, out, filepath.Join(dir, "prealloc.want"))
	assert.Less(t, res.ScratchBytes, int64(4<<20), "the spool stores the data and metadata, not the zeros")
	assert.Less(t, allocated(t, filepath.Join(out, target.DiskName)), int64(1<<20))
}

// TestImportRefusals checks the inputs that must be refused, with the
// cause named and nothing left in the target or the scratch space.
func TestImportRefusals(t *testing.T) {
	tooltest.Need(t, "qemu-img", "tar", "gzip", "xz", "zstd")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `
printf '\xef\xbb\xbf\n  <!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n' > page.html
printf '<html><body>Please sign in</body></html>' | gzip -n > page.html.gz
printf '<HTML>' > tiny.html
tar -cf empty.tar -T /dev/null
tar -czf empty.tar.gz -T /dev/null
head -c 1M /dev/urandom > a.img; head -c 1M /dev/urandom > b.img; tar --format=v7 -cf two-v7.tar a.img b.img
: > none; tar -cf only-empty.tar none
qemu-img create -q -f qcow2 big.qcow2 1G && xz -k big.qcow2
qemu-img create -q -f qcow2 base.qcow2 1M && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2 && gzip -k overlay.qcow2
# A qcow2 image of 1 MiB followed by 100 MiB of junk that compresses to little.
qemu-img create -q -f qcow2 small.qcow2 1M
{ cat small.qcow2; head -c 100M /dev/zero | tr '\0' '\1'; } | zstd -q -1 > junk.qcow2.zst
`)
	tests := []struct {
		name    string
		file    string
		req     Request
		want    string
		wantErr error
	}{
		{name: "html page", file: "page.html", want: "the source answered an HTML page, not a disk image", wantErr: image.ErrHTMLPage},
		{name: "html page in gzip", file: "page.html.gz", want: "inside gzip: the source answered an HTML page", wantErr: image.ErrHTMLPage},
		{name: "tiny html page", file: "tiny.html", wantErr: image.ErrHTMLPage},
		{name: "html page as archive", file: "page.html", req: Request{ContentType: Archive}, wantErr: image.ErrHTMLPage},
		{name: "empty tar", file: "empty.tar", want: "tar is an empty archive"},
		{name: "empty tar.gz", file: "empty.tar.gz", want: "tar inside gzip is an empty archive"},
		{name: "empty tar as archive", file: "empty.tar", req: Request{ContentType: Archive}, wantErr: target.ErrEmptyArchive},
		{name: "v7 tar of two images", file: "two-v7.tar", want: "holds more than one file (a.img, b.img)"},
		{name: "tar of an empty file", file: "only-empty.tar", want: "holds no disk image"},
		{name: "qcow2 larger than the target, before spooling", file: "big.qcow2.xz", req: Request{Size: 64 << 20}, want: "larger than the target", wantErr: target.ErrCapacity},
		{name: "qcow2 with a backing file, before spooling", file: "overlay.qcow2.gz", want: "qcow2 inside gzip: qcow2 image has a backing file"},
		{name: "junk after a small qcow2", file: "junk.qcow2.zst", want: "larger than a qcow2 image of 1048576 bytes needs", wantErr: target.ErrCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scratch := t.TempDir()
			tt.req.Scratch = scratch
			out, _, err := importFile(t, filepath.Join(dir, tt.file), false, tt.req)
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			if tt.want != "" {
				assert.ErrorContains(t, err, tt.want)
			}
			for _, d := range []string{out, scratch} {
				entries, _ := os.ReadDir(d)
				assert.Empty(t, entries, "nothing is left in %s", d)
			}
		})
	}
}

// TestImportRemovesLeftovers: what an interrupted import left in the
// target or the scratch space is removed by the next import.
func TestImportRemovesLeftovers(t *testing.T) {
	tooltest.Need(t, "qemu-img", "xz", "tar")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `
head -c 1M /dev/urandom > disk.raw && qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2 && xz -k disk.qcow2
mkdir tree && echo hi > tree/f && tar -C tree -cf tree.tar f
`)
	plant := func(t *testing.T, d string, names ...string) {
		for _, n := range names {
			require.NoError(t, os.MkdirAll(filepath.Join(d, filepath.Dir(n)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(d, n), []byte("left over"), 0o644))
		}
	}
	t.Run("kubevirt", func(t *testing.T) {
		out, scratch := t.TempDir(), t.TempDir()
		plant(t, out, ".disk.img-1.partial", ".extract-2.partial/f", ".extract-345/f")
		plant(t, scratch, ".spool-6.partial")
		_, _, err := importFile(t, filepath.Join(dir, "disk.qcow2.xz"), false, Request{Target: out, Scratch: scratch})
		require.NoError(t, err)
		requireOnlyDisk(t, out, filepath.Join(dir, "disk.raw"))
		entries, _ := os.ReadDir(scratch)
		assert.Empty(t, entries)
	})
	t.Run("archive", func(t *testing.T) {
		out := t.TempDir()
		plant(t, out, ".disk.img-1.partial", ".extract-2.partial/f", ".extract-345/f")
		_, res, err := importFile(t, filepath.Join(dir, "tree.tar"), false, Request{Target: out, ContentType: Archive})
		require.NoError(t, err)
		assert.Equal(t, int64(3), res.Size)
		entries, _ := os.ReadDir(out)
		require.Len(t, entries, 1)
		assert.Equal(t, "f", entries[0].Name())
	})
}
