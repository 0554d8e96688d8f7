package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// fixtures are images made by the real tools from one raw disk, with the
// raw content each must import to (qemu-img convert -O raw of the image
// inside).
type fixtures struct {
	dir string
	raw []byte // the disk every fixture holds
}

// fixtureFormats are the file names makeFixtures creates, each an image of
// the same disk.
var fixtureFormats = []string{
	"disk.raw", "disk.iso", "disk.qcow2", "disk-v2.qcow2", "disk-c.qcow2", "disk-zstd.qcow2",
	"disk.raw.gz", "disk-multi.raw.gz", "disk.raw.xz", "disk-mb.raw.xz", "disk.raw.zst",
	"disk.qcow2.xz", "disk.qcow2.gz", "disk.qcow2.zst", "disk.tar", "disk.tar.gz", "disk-qcow2.tar.xz",
}

// diskImage returns a deterministic raw disk of size bytes: random 64 KiB
// extents scattered over zeros, and a partial last cluster of data.
func diskImage(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, size)
	for i := 0; i < size/(64<<10); i++ {
		if r.IntN(10) < 3 {
			off := i * (64 << 10)
			for j := off; j < off+64<<10; j += 8 {
				v := r.Uint64()
				for k := 0; k < 8; k++ {
					b[j+k] = byte(v >> (8 * k))
				}
			}
		}
	}
	copy(b[size-1000:], bytes.Repeat([]byte("tail"), 250))
	return b
}

func makeFixtures(t *testing.T) *fixtures {
	t.Helper()
	tooltest.Need(t, "qemu-img", "gzip", "xz", "zstd", "tar", "genisoimage")
	dir := t.TempDir()
	raw := diskImage(6<<20+512*3, 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "disk.raw"), raw, 0o644))
	tooltest.Sh(t, dir, `
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
qemu-img convert -f raw -O qcow2 -o compat=0.10 disk.raw disk-v2.qcow2
qemu-img convert -f raw -O qcow2 -c disk.raw disk-c.qcow2
qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd disk.raw disk-zstd.qcow2
gzip -kn disk.raw
head -c 3000000 disk.raw | gzip -n > disk-multi.raw.gz; tail -c +3000001 disk.raw | gzip -n >> disk-multi.raw.gz
xz -k disk.raw
xz -T2 --block-size=1MiB -c disk.raw > disk-mb.raw.xz
zstd -q disk.raw
xz -k disk.qcow2; gzip -kn disk.qcow2; zstd -q disk.qcow2
tar -cf disk.tar disk.raw
tar -czf disk.tar.gz disk.raw
mkdir -p d && cp disk.qcow2 d/ && tar -C d -cJf disk-qcow2.tar.xz disk.qcow2
mkdir -p iso && head -c 2000000 disk.raw > iso/file && genisoimage -quiet -o disk.iso iso
# The reference: qemu-img's own conversion of every qcow2 variant is the raw disk.
for q in *.qcow2; do qemu-img convert -f qcow2 -O raw "$q" ref.raw && cmp ref.raw disk.raw; done
rm ref.raw
`)
	return &fixtures{dir: dir, raw: raw}
}

// file returns the bytes of a fixture.
func (f *fixtures) file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	require.NoError(t, err)
	return b
}

// want returns what importing the fixture must produce.
func (f *fixtures) want(t *testing.T, name string) []byte {
	t.Helper()
	if name == "disk.iso" {
		return f.file(t, name)
	}
	return f.raw
}
