package image

import (
	"bytes"
	"encoding/binary"
)

// Format is a kind of content recognised by Detect.
type Format string

// The formats Detect knows.
const (
	Raw   Format = "raw"
	ISO   Format = "iso"
	Qcow2 Format = "qcow2"
	Gzip  Format = "gzip"
	Xz    Format = "xz"
	Zstd  Format = "zstd"
	Tar   Format = "tar"
	// Formats that are recognised only to be refused clearly.
	Vmdk  Format = "vmdk"
	Vhdx  Format = "vhdx"
	Vdi   Format = "vdi"
	Vpc   Format = "vpc"
	Bzip2 Format = "bzip2"
)

// HeadSize is how many leading bytes Detect needs to see every format it
// knows (the ISO 9660 volume descriptor sits at 32 KiB).
const HeadSize = 32769 + 5

// Supported reports whether the pipeline can import f.
func (f Format) Supported() bool {
	switch f {
	case Vmdk, Vhdx, Vdi, Vpc, Bzip2:
		return false
	}
	return true
}

// Compressed reports whether f is a compression layer around other content.
func (f Format) Compressed() bool {
	return f == Gzip || f == Xz || f == Zstd
}

// Detect names the format of content that starts with head. head may be
// shorter than HeadSize when the content is; anything unrecognised is Raw.
func Detect(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return Qcow2
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return Gzip
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return Xz
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case isTar(head):
		return Tar
	case bytes.HasPrefix(head, []byte("KDMV")),
		bytes.HasPrefix(head, []byte("COWD")),
		bytes.HasPrefix(head, []byte("# Disk DescriptorFile")):
		return Vmdk
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return Vhdx
	case len(head) >= 68 && binary.LittleEndian.Uint32(head[64:]) == 0xbeda107f:
		return Vdi
	case bytes.HasPrefix(head, []byte("conectix")):
		return Vpc
	case len(head) >= 10 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9' &&
		bytes.Equal(head[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}):
		return Bzip2
	case len(head) >= 32769+5 && bytes.Equal(head[32769:32769+5], []byte("CD001")):
		return ISO
	}
	return Raw
}

// isTar recognises POSIX (ustar\x0000) and GNU (ustar  \x00) tar headers
// with a valid header checksum.
func isTar(head []byte) bool {
	if len(head) < 512 {
		return false
	}
	magic := head[257:265]
	if !bytes.Equal(magic, []byte("ustar\x0000")) && !bytes.Equal(magic, []byte("ustar  \x00")) {
		return false
	}
	return tarChecksumOK(head[:512])
}

func tarChecksumOK(h []byte) bool {
	field := bytes.TrimRight(bytes.TrimLeft(h[148:156], " \x00"), " \x00")
	var want int64
	if len(field) == 0 {
		return false
	}
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var sum int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want
}
