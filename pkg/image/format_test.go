package image

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// TestDetectRealFiles detects files made by the real tools.
func TestDetectRealFiles(t *testing.T) {
	tooltest.Need(t, "qemu-img", "gzip", "xz", "zstd", "tar", "bzip2", "genisoimage")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `
head -c 1M /dev/urandom > disk.raw
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
qemu-img convert -f raw -O qcow2 -o compat=0.10 disk.raw disk-v2.qcow2
for f in vmdk vhdx vdi vpc; do qemu-img convert -f raw -O $f disk.raw disk.$f; done
qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat disk.raw flat.vmdk
gzip -k disk.raw; xz -k disk.raw; zstd -q disk.raw; bzip2 -k disk.raw
tar -cf disk.tar disk.raw; tar --format=gnu -cf gnu.tar disk.raw
mkdir iso && cp disk.raw iso/ && genisoimage -quiet -o disk.iso iso
`)
	tests := map[string]Format{
		"disk.raw": Raw, "disk.qcow2": Qcow2, "disk-v2.qcow2": Qcow2,
		"disk.vmdk": Vmdk, "flat.vmdk": Vmdk, "disk.vhdx": Vhdx, "disk.vdi": Vdi, "disk.vpc": Vpc,
		"disk.raw.gz": Gzip, "disk.raw.xz": Xz, "disk.raw.zst": Zstd, "disk.raw.bz2": Bzip2,
		"disk.tar": Tar, "gnu.tar": Tar, "disk.iso": ISO,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			head := data[:min(len(data), HeadSize)]
			assert.Equal(t, want, Detect(head))
			assert.Equal(t, want != Vmdk && want != Vhdx && want != Vdi && want != Vpc && want != Bzip2, want.Supported())
		})
	}
}

func TestDetectEdgeCases(t *testing.T) {
	tarLike := make([]byte, 512)
	copy(tarLike[257:], "ustar\x0000") // magic without a valid checksum
	tests := []struct {
		name string
		head []byte
		want Format
	}{
		{"empty", nil, Raw},
		{"short", []byte{0x1f}, Raw},
		{"zeros", make([]byte, HeadSize), Raw},
		{"tar magic, bad checksum", tarLike, Raw},
		{"BZh without block magic", []byte("BZh9 not really"), Raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Detect(tt.head))
		})
	}
}

// FuzzDetect checks that Detect never panics and is decided by the head
// alone (more bytes after HeadSize never change the answer).
func FuzzDetect(f *testing.F) {
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0})
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Add([]byte("BZh91AY&SY"))
	f.Add(make([]byte, 600))
	f.Fuzz(func(t *testing.T, head []byte) {
		got := Detect(head)
		if len(head) > HeadSize {
			if again := Detect(head[:HeadSize]); again != got {
				t.Fatalf("Detect looks past HeadSize: %s vs %s", got, again)
			}
		}
	})
}
