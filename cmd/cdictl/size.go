package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/resource"
)

// qcow2Magic begins every qcow2 image.
const qcow2Magic = "QFI\xfb"

// imageSize is the size the image needs on disk: a qcow2's virtual size
// (from its header), else the file's size. A compressed image's size is
// its compressed size: give --size for those.
func imageSize(f io.ReaderAt, fileSize int64) (int64, error) {
	var hdr [32]byte
	n, err := f.ReadAt(hdr[:], 0)
	if n < len(hdr) {
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("read the image header: %w", err)
		}
		return fileSize, nil
	}
	if string(hdr[:4]) != qcow2Magic {
		return fileSize, nil
	}
	v := binary.BigEndian.Uint64(hdr[24:32])
	if v == 0 || v > 1<<62 {
		return 0, fmt.Errorf("the qcow2 header gives a virtual size of %d bytes", v)
	}
	return int64(v), nil
}

// claimSize is the storage request for an image of size bytes: on a
// Filesystem volume disk.img needs the file system's overhead too (6%, as
// KubeVirt assumes 5.5%); rounded up to MiB.
func claimSize(size int64, block bool) resource.Quantity {
	if !block {
		size += size * 6 / 100
	}
	const mi = 1 << 20
	mib := (size + mi - 1) / mi
	return *resource.NewQuantity(max(mib, 1)*mi, resource.BinarySI)
}

// openImage opens the image and returns it with its size.
func openImage(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open the image: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open the image: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("the image %s is not a regular file", path)
	}
	return f, st.Size(), nil
}
