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
	// HTML is a web page: what a server answers with status 200 when it
	// serves an error or login page instead of the image.
	HTML Format = "html"
)

// HeadSize is how many leading bytes Detect needs to see every format it
// knows (the ISO 9660 volume descriptor sits at 32 KiB).
const HeadSize = 32769 + 5

// Supported reports whether the pipeline can import f.
func (f Format) Supported() bool {
	switch f {
	case Vmdk, Vhdx, Vdi, Vpc, Bzip2, HTML:
		return false
	}
	return true
}

// Compressed reports whether f is a compression layer around other content.
func (f Format) Compressed() bool {
	return f == Gzip || f == Xz || f == Zstd
}

// Detect names the format of content that starts with head. head may be
// shorter than HeadSize only when the content is that short; anything
// unrecognised is Raw.
//
// Tar archives are recognised by a header with a valid checksum, with or
// without the ustar magic (V7 tar, and the volume label GNU tar writes
// first with --label, have none), and by the end-of-archive blocks alone:
// content of at least two and fewer than HeadSize/512 zero blocks is the
// empty archive GNU tar writes, not a disk.
func Detect(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return Qcow2
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return Gzip
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return Xz
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}), isZstdSkippable(head):
		return Zstd
	case isTar(head), isEmptyTar(head):
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
	case IsHTML(head):
		return HTML
	}
	return Raw
}

// isZstdSkippable recognises a zstd skippable frame (magic 0x184D2A50 to
// 0x184D2A5F, little-endian), which pzstd and the seekable format write
// before the first data frame.
func isZstdSkippable(head []byte) bool {
	return len(head) >= 8 && head[0]&0xf0 == 0x50 && bytes.Equal(head[1:4], []byte{0x2a, 0x4d, 0x18})
}

// tarBlock is the size of a tar header and of the blocks of an archive.
const tarBlock = 512

// isTar recognises a tar header: POSIX (ustar\x0000) or GNU (ustar  \x00)
// magic with a valid checksum, or a header without magic (V7 tar, GNU tar's
// volume label) that is valid in every field a V7 header has.
func isTar(head []byte) bool {
	if len(head) < tarBlock {
		return false
	}
	h := head[:tarBlock]
	if !tarChecksumOK(h) {
		return false
	}
	magic := h[257:265]
	if bytes.Equal(magic, []byte("ustar\x0000")) || bytes.Equal(magic, []byte("ustar  \x00")) {
		return true
	}
	return isV7Header(h)
}

// isV7Header checks the fields of a header without magic: a name, octal
// numbers in the numeric fields, a V7 (or GNU volume label) type, and zeros
// where the ustar name fields would be. A disk's first sector
// with a valid tar checksum at bytes 148-155 is unlikely; one that also
// passes these checks is not a disk.
func isV7Header(h []byte) bool {
	if h[0] == 0 {
		return false
	}
	switch t := h[156]; {
	case t == 0, t >= '0' && t <= '7', t == tarTypeGNUVolume:
	default:
		return false
	}
	// mode, uid, gid, size, mtime; and devmajor, devminor, which GNU tar
	// fills in even in a V7 header.
	for _, f := range [][2]int{{100, 108}, {108, 116}, {116, 124}, {124, 136}, {136, 148}, {329, 337}, {337, 345}} {
		if !octalField(h[f[0]:f[1]]) {
			return false
		}
	}
	// magic, version, uname, gname; prefix and padding.
	for _, f := range [][2]int{{257, 329}, {345, 512}} {
		for _, c := range h[f[0]:f[1]] {
			if c != 0 {
				return false
			}
		}
	}
	return true
}

// tarTypeGNUVolume is the type of GNU tar's volume label header.
const tarTypeGNUVolume = 'V'

// octalField reports whether a numeric header field holds an octal number
// padded with spaces and NULs, or nothing.
func octalField(b []byte) bool {
	b = bytes.TrimLeft(b, " ")
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '7' {
		i++
	}
	for _, c := range b[i:] {
		if c != ' ' && c != 0 {
			return false
		}
	}
	return true
}

// isEmptyTar recognises a whole archive of end-of-archive blocks: what GNU
// tar writes for an archive of no files (two zero blocks padded to a
// record, 10 KiB by default). head must be the whole content, so it is
// shorter than HeadSize: a longer run of zeros is a blank raw disk.
func isEmptyTar(head []byte) bool {
	if len(head) >= HeadSize || len(head) < 2*tarBlock || len(head)%tarBlock != 0 {
		return false
	}
	for _, c := range head {
		if c != 0 {
			return false
		}
	}
	return true
}

// tarChecksumOK checks the header checksum: the sum of the header bytes
// with the checksum field taken as spaces, unsigned (POSIX) or signed (some
// historic tars), as archive/tar accepts it.
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
	var unsigned, signed int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return unsigned == want || signed == want
}
