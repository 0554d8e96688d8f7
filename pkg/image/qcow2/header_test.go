package qcow2

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// TestParseHeader reads the header of images made by qemu-img from their
// first bytes alone, as a caller does before it spools a stream, and agrees
// with Open.
func TestParseHeader(t *testing.T) {
	tooltest.Need(t, "qemu-img")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `
qemu-img create -q -f qcow2 v3.qcow2 10G
qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4K v2.qcow2 1000M
qemu-img create -q -f qcow2 -o cluster_size=2M,extended_l2=on ext.qcow2 3G
qemu-img create -q -f qcow2 snap.qcow2 64M && qemu-img snapshot -c s snap.qcow2
qemu-img create -q -f qcow2 -b v3.qcow2 -F qcow2 overlay.qcow2
qemu-img create -q -f qcow2 -o data_file=external.raw external.qcow2 4M
qemu-img create -q -f qcow2 --object secret,id=s0,data=123456 -o encrypt.format=aes,encrypt.key-secret=s0,compat=0.10 aes.qcow2 4M
`)
	tests := []struct {
		file string
		want Header
		err  error
	}{
		{file: "v3.qcow2", want: Header{Version: 3, VirtualSize: 10 << 30, ClusterSize: 64 << 10}},
		{file: "v2.qcow2", want: Header{Version: 2, VirtualSize: 1000 << 20, ClusterSize: 4 << 10}},
		{file: "ext.qcow2", want: Header{Version: 3, VirtualSize: 3 << 30, ClusterSize: 2 << 20}},
		{file: "snap.qcow2", want: Header{Version: 3, VirtualSize: 64 << 20, ClusterSize: 64 << 10}},
		{file: "overlay.qcow2", err: ErrBackingFile},
		{file: "external.qcow2", err: ErrExternalDataFile},
		{file: "aes.qcow2", err: ErrEncrypted},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, tt.file))
			require.NoError(t, err)
			head := b[:min(len(b), HeaderSize)]
			got, err := ParseHeader(head, -1)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			img, err := openBytes(context.Background(), b)
			require.NoError(t, err)
			assert.Equal(t, img.VirtualSize(), got.VirtualSize)
			assert.Equal(t, img.Version(), got.Version)
			assert.Equal(t, img.ClusterSize(), got.ClusterSize)
		})
	}
	t.Run("short head is the whole file", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "v3.qcow2"))
		require.NoError(t, err)
		_, err = ParseHeader(b[:50], -1)
		require.ErrorIs(t, err, ErrTruncated)
		assert.ErrorContains(t, err, "file of 50 bytes")
	})
}
