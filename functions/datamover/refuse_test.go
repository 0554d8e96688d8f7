package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// TestImportRefusals checks that every bad input fails with exit status 1,
// a one-line error naming the cause, and no disk.img.
func TestImportRefusals(t *testing.T) {
	f := makeFixtures(t)
	tooltest.Sh(t, f.dir, `
qemu-img create -q -f qcow2 base.qcow2 4M
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
# AES, not LUKS: LUKS benchmarks its key derivation and fails on a loaded machine.
qemu-img create -q -f qcow2 --object secret,id=s0,data=123456 -o encrypt.format=aes,encrypt.key-secret=s0,compat=0.10 aes.qcow2 4M
qemu-img create -q -f qcow2 -o data_file=external.raw external.qcow2 4M
for fmt in vmdk vhdx vdi vpc; do qemu-img convert -f raw -O $fmt disk.raw disk.$fmt; done
half() { head -c $(( $(stat -c %s "$1") / 2 )) "$1" > "$2"; }
half disk.raw.gz truncated.raw.gz; half disk.raw.xz truncated.raw.xz; half disk.raw.zst truncated.raw.zst
half disk.tar truncated.tar; half disk.qcow2 truncated.qcow2; half disk.tar.gz truncated.tar.gz
corrupt() { cp "$1" "$2" && printf 'garbage!' | dd of="$2" bs=1 seek=$(( $(stat -c %s "$1") / 3 )) conv=notrunc status=none; }
corrupt disk.raw.gz corrupt.raw.gz; corrupt disk.raw.xz corrupt.raw.xz; corrupt disk.raw.zst corrupt.raw.zst
# The L1 table offset (header bytes 40..47) moved past the end of the file.
cp disk.qcow2 corrupt.qcow2 && printf '\x00\x00\x00\x00\x7f\xff\x00\x00' | dd of=corrupt.qcow2 bs=1 seek=40 conv=notrunc status=none
mkdir two && cp disk.raw two/a.img && cp disk.raw two/b.img && tar -C two -cf two.tar a.img b.img
cp disk.raw.gz deep.gz; for i in 1 2 3 4; do gzip -nc deep.gz > deep.tmp && mv deep.tmp deep.gz; done
: > empty.raw
printf 'BZh91AY&SY' > fake.bz2
`)
	file := func(name string) []string { return []string{"--source", filepath.Join(f.dir, name)} }
	noRanges := sourcetest.NewServer(t, sourcetest.Config{Data: f.file(t, "disk.qcow2"), NoRanges: true})
	wrapped := sourcetest.NewServer(t, sourcetest.Config{Data: f.file(t, "disk.qcow2.xz")})
	auth := sourcetest.NewServer(t, sourcetest.Config{Data: f.file(t, "disk.raw"), User: "user", Password: "pass"})
	wrongSecret := sourcetest.WriteSecretDir(t, "user", "wrong")
	missing := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(missing.Close)

	tests := []struct {
		name    string
		args    []string
		want    string
		noScrat bool
	}{
		{name: "qcow2 backing file", args: file("overlay.qcow2"), want: "backing file"},
		{name: "qcow2 encryption", args: file("aes.qcow2"), want: "encrypt"},
		{name: "qcow2 external data file", args: file("external.qcow2"), want: "external data file"},
		{name: "vmdk", args: file("disk.vmdk"), want: "vmdk images are not supported yet"},
		{name: "vhdx", args: file("disk.vhdx"), want: "vhdx images are not supported yet"},
		{name: "vdi", args: file("disk.vdi"), want: "vdi images are not supported yet"},
		{name: "vpc", args: file("disk.vpc"), want: "vpc images are not supported yet"},
		{name: "bzip2", args: file("fake.bz2"), want: "bzip2 images are not supported yet"},
		{name: "truncated gzip", args: file("truncated.raw.gz"), want: "gzip data is truncated or corrupt"},
		{name: "truncated xz", args: file("truncated.raw.xz"), want: "xz data is truncated or corrupt"},
		{name: "truncated zstd", args: file("truncated.raw.zst"), want: "zstd data is truncated or corrupt"},
		{name: "truncated tar", args: file("truncated.tar"), want: "unexpected EOF"},
		{name: "truncated qcow2", args: file("truncated.qcow2"), want: "qcow2"},
		{name: "truncated tar.gz", args: file("truncated.tar.gz"), want: "gzip data is truncated or corrupt"},
		{name: "corrupt zstd", args: file("corrupt.raw.zst"), want: "zstd data is truncated or corrupt"},
		{name: "corrupt qcow2", args: file("corrupt.qcow2"), want: "L1 table"},
		{name: "corrupt gzip", args: file("corrupt.raw.gz"), want: "gzip data is truncated or corrupt"},
		{name: "corrupt xz", args: file("corrupt.raw.xz"), want: "xz data is truncated or corrupt"},
		{name: "tar with two images", args: file("two.tar"), want: "holds more than one file (a.img, b.img)"},
		{name: "too deep", args: file("deep.gz"), want: "more than 4 layers"},
		{name: "empty", args: file("empty.raw"), want: "is empty"},
		{name: "larger than --size", args: append(file("disk.raw.gz"), "--size", "4Mi"), want: "larger than the target"},
		{name: "qcow2 larger than --size", args: append(file("disk.qcow2"), "--size", "4Mi"), want: "larger than the target"},
		{name: "checksum mismatch", args: append(file("disk.raw.xz"), "--checksum", "md5:00000000000000000000000000000000"), want: "checksum mismatch"},
		{name: "qcow2 without ranges or scratch", args: []string{"--source", noRanges.URL + "/disk.qcow2"}, want: "give scratch space", noScrat: true},
		{name: "wrapped qcow2 without scratch", args: []string{"--source", wrapped.URL + "/disk.qcow2.xz"}, want: "qcow2 inside xz cannot be read in place", noScrat: true},
		{name: "wrong password", args: []string{"--source", auth.URL + "/disk.raw", "--secret-dir", wrongSecret}, want: "access denied"},
		{name: "no password", args: []string{"--source", auth.URL + "/disk.raw"}, want: "access denied"},
		{name: "not found", args: []string{"--source", missing.URL + "/nothing"}, want: "not found"},
		{name: "bad scheme", args: []string{"--source", "ftp://example.invalid/disk.img"}, want: "scheme"},
		{name: "missing file", args: file("no-such-file"), want: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := t.TempDir()
			args := append([]string{"import", "--target", target}, tt.args...)
			if !tt.noScrat {
				args = append(args, "--scratch", t.TempDir())
			}
			requireRefused(t, invocation{args: args}.run(t), target, tt.want)
		})
	}
}

func TestImportUsageErrors(t *testing.T) {
	target := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage: datamover"},
		{"unknown command", []string{"export"}, `unknown command "export"`},
		{"no source", []string{"import", "--target", target}, "--source is required"},
		{"no target", []string{"import", "--source", "x"}, "--target is required"},
		{"bad content type", []string{"import", "--source", "x", "--target", target, "--content-type", "iso"}, `content type "iso"`},
		{"bad size", []string{"import", "--source", "x", "--target", target, "--size", "-3"}, `size "-3"`},
		{"bad checksum", []string{"import", "--source", "x", "--target", target, "--checksum", "sha3:00"}, "unknown algorithm"},
		{"scratch missing", []string{"import", "--source", "x", "--target", target, "--scratch", "/nonexistent"}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := invocation{args: tt.args}.run(t)
			require.Equal(t, exitUsage, o.code, o.stderr)
			require.Contains(t, o.stderr, tt.want)
		})
	}
	entries, _ := os.ReadDir(target)
	require.Empty(t, entries)
}
