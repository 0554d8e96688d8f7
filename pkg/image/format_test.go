package image

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// TestDetectRealFiles detects files made by the real tools.
func TestDetectRealFiles(t *testing.T) {
	tooltest.Need(t, "qemu-img", "gzip", "xz", "zstd", "pzstd", "tar", "bzip2", "genisoimage")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `
head -c 1M /dev/urandom > disk.raw
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
qemu-img convert -f raw -O qcow2 -o compat=0.10 disk.raw disk-v2.qcow2
for f in vmdk vhdx vdi vpc; do qemu-img convert -f raw -O $f disk.raw disk.$f; done
qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat disk.raw flat.vmdk
gzip -k disk.raw; xz -k disk.raw; zstd -q disk.raw; bzip2 -k disk.raw
tar -cf disk.tar disk.raw; tar --format=gnu -cf gnu.tar disk.raw
tar --format=v7 -cf v7.tar disk.raw; tar --format=oldgnu -cf oldgnu.tar disk.raw
tar --format=pax -cf pax.tar disk.raw; tar -V "backup of /var 2024" -cf label.tar disk.raw
tar -cf empty.tar -T /dev/null; tar -b 1 -cf empty-b1.tar -T /dev/null; tar -b 63 -cf empty-b63.tar -T /dev/null
tar -cf empty.tar.gz -z -T /dev/null
pzstd -q -p 2 disk.raw -o disk.raw.pz
mkdir iso && cp disk.raw iso/ && genisoimage -quiet -o disk.iso iso
head -c 10240 /dev/zero > zeros-10k.raw; head -c 64K /dev/zero > zeros-64k.raw; head -c 1000 /dev/zero > zeros-1000.raw
`)
	tests := map[string]Format{
		"disk.raw": Raw, "disk.qcow2": Qcow2, "disk-v2.qcow2": Qcow2,
		"disk.vmdk": Vmdk, "flat.vmdk": Vmdk, "disk.vhdx": Vhdx, "disk.vdi": Vdi, "disk.vpc": Vpc,
		"disk.raw.gz": Gzip, "disk.raw.xz": Xz, "disk.raw.zst": Zstd, "disk.raw.bz2": Bzip2,
		"disk.tar": Tar, "gnu.tar": Tar, "disk.iso": ISO,
		"v7.tar": Tar, "oldgnu.tar": Tar, "pax.tar": Tar, "label.tar": Tar,
		"empty.tar": Tar, "empty-b1.tar": Tar, "empty-b63.tar": Tar, "empty.tar.gz": Gzip,
		// pzstd writes a skippable frame first.
		"disk.raw.pz": Zstd,
		// A blank disk is not an empty archive; neither is a run of zeros
		// that is not whole tar blocks.
		"zeros-64k.raw": Raw, "zeros-1000.raw": Raw,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			head := data[:min(len(data), HeadSize)]
			assert.Equal(t, want, Detect(head))
			assert.Equal(t, want != Vmdk && want != Vhdx && want != Vdi && want != Vpc && want != Bzip2 && want != HTML, want.Supported())
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
		{"v7 header without a name", v7Header(func(h []byte) { h[0] = 0 }), Raw},
		{"v7 header with a bad mode", v7Header(func(h []byte) { copy(h[100:], "0009644\x00") }), Raw},
		{"v7 header with an unknown type", v7Header(func(h []byte) { h[156] = 'Z' }), Raw},
		{"v7 header with data in the ustar fields", v7Header(func(h []byte) { h[300] = 1 }), Raw},
		{"v7 header", v7Header(func([]byte) {}), Tar},
		{"v7 header, signed checksum", v7Header(func(h []byte) { h[10] = 0xff }), Tar},
		{"one zero block", make([]byte, 512), Raw},
		{"two zero blocks", make([]byte, 1024), Tar},
		{"zeros up to just below HeadSize", make([]byte, HeadSize/512*512), Tar},
		{"html doctype", []byte("<!DOCTYPE html>\n<html><body>404</body></html>"), HTML},
		{"html after BOM and white space", []byte("\xef\xbb\xbf \r\n\t<HTML lang=en>"), HTML},
		{"html head", []byte("<head>\n<title>Sign in</title>"), HTML},
		{"html comment", []byte("<!--[if IE]>"), HTML},
		{"html body, self-closing br", []byte("<br/>"), HTML},
		{"html lower-case title", []byte("\n\n<title>Error</title>"), HTML},
		{"not a tag", []byte("<htmlx>"), Raw},
		{"a bare angle bracket", []byte("<"), Raw},
		{"xml", []byte("<?xml version=\"1.0\"?><Error/>"), Raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Detect(tt.head))
		})
	}
}

// v7Header returns a V7 tar header (no magic) for a file, changed by edit,
// with its checksum computed after the change (unsigned, or signed when
// edit put a byte >= 0x80 in it).
func v7Header(edit func(h []byte)) []byte {
	h := make([]byte, 512)
	copy(h, "disk.img")
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0001750\x00")
	copy(h[116:], "0001750\x00")
	copy(h[124:], "00000001000\x00")
	copy(h[136:], "14530460340\x00")
	h[156] = '0'
	edit(h)
	var sum int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(int8(c))
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return append(h, make([]byte, 1024)...)
}

// FuzzDetect checks that Detect never panics and is decided by the head
// alone (more bytes after HeadSize never change the answer).
func FuzzDetect(f *testing.F) {
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0})
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Add([]byte("BZh91AY&SY"))
	f.Add(make([]byte, 600))
	// The classes of hostile and odd inputs: web pages, tar headers without
	// magic, the empty archive, gzip headers with long fields.
	f.Add([]byte("\xef\xbb\xbf\n<!doctype html><html>"))
	f.Add([]byte("  <HTML>"))
	f.Add([]byte("<!-- x -->"))
	f.Add([]byte("P*M\x18\x04\x00\x00\x00\xad\x86\x01\x00(\xb5/\xfd"))
	f.Add(v7Header(func([]byte) {}))
	f.Add(v7Header(func(h []byte) { copy(h, "backup label"); h[156] = 'V' }))
	f.Add(make([]byte, 10240))
	f.Add(make([]byte, HeadSize-1))
	f.Add(append([]byte{0x1f, 0x8b, 0x08, gzipFlagName | gzipFlagComment, 0, 0, 0, 0, 0, 3}, bytes.Repeat([]byte{'n'}, 1000)...))
	f.Fuzz(func(t *testing.T, head []byte) {
		got := Detect(head)
		if len(head) > HeadSize {
			if again := Detect(head[:HeadSize]); again != got {
				t.Fatalf("Detect looks past HeadSize: %s vs %s", got, again)
			}
		}
	})
}
