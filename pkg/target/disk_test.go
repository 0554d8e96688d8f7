package target

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// allocated is the number of bytes a file occupies on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(path, &st))
	return st.Blocks * 512
}

func TestDiskSparseAndAtomic(t *testing.T) {
	dir := t.TempDir()
	// A leftover of an interrupted import is cleaned up.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".disk.img-123.partial"), []byte("junk"), 0o644))

	d, err := OpenDisk(dir, DiskOptions{})
	require.NoError(t, err)
	data := make([]byte, 8<<20) // 8 MiB: 1 MiB of data in the middle, zeros around it
	for i := 3 << 20; i < 4<<20; i++ {
		data[i] = byte(i%251 + 1)
	}
	n, err := Copy(context.Background(), d, bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	assert.Equal(t, int64(1<<20), d.Written())

	// Nothing is visible under the final name before Commit.
	_, err = os.Stat(filepath.Join(dir, DiskName))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, d.Commit())

	got, err := os.ReadFile(filepath.Join(dir, DiskName))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "content differs")
	assert.LessOrEqual(t, allocated(t, filepath.Join(dir, DiskName)), int64(1<<20+64<<10), "zeros must be holes")
	var st unix.Stat_t
	require.NoError(t, unix.Stat(filepath.Join(dir, DiskName), &st))
	assert.Equal(t, uint32(DiskMode), st.Mode&0o777, "KubeVirt's qemu can read and write it")
	if os.Geteuid() == 0 {
		assert.Equal(t, uint32(QemuUID), st.Uid)
		assert.Equal(t, uint32(QemuGID), st.Gid)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".disk.img-*"))
	assert.Empty(t, left)
}

func TestDiskGrowAndCapacity(t *testing.T) {
	tests := []struct {
		name     string
		opts     DiskOptions
		write    int64 // bytes of 0xff written at 0
		reserve  int64
		wantErr  error
		wantSize int64
	}{
		{name: "grown to size", opts: DiskOptions{Size: 64 << 20, Grow: true}, write: 1 << 20, wantSize: 64 << 20},
		{name: "reserved virtual size", opts: DiskOptions{}, write: 1 << 20, reserve: 10 << 20, wantSize: 10 << 20},
		{name: "data beyond size", opts: DiskOptions{Size: 1 << 20}, write: 2 << 20, wantErr: ErrCapacity},
		{name: "virtual size beyond size", opts: DiskOptions{Size: 1 << 20}, reserve: 2 << 20, wantErr: ErrCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			d, err := OpenDisk(dir, tt.opts)
			require.NoError(t, err)
			if tt.reserve > 0 {
				err = d.Reserve(tt.reserve)
			}
			if err == nil && tt.write > 0 {
				_, err = Copy(context.Background(), d, bytes.NewReader(bytes.Repeat([]byte{0xff}, int(tt.write))))
			}
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				d.Abort()
				entries, _ := os.ReadDir(dir)
				assert.Empty(t, entries, "a failed import leaves nothing behind")
				return
			}
			require.NoError(t, err)
			require.NoError(t, d.Commit())
			fi, err := os.Stat(filepath.Join(dir, DiskName))
			require.NoError(t, err)
			assert.Equal(t, tt.wantSize, fi.Size())
		})
	}
}

func TestOpenDiskRejectsFiles(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	_, err := OpenDisk(f, DiskOptions{})
	require.ErrorContains(t, err, "must be a directory or a block device")
	_, err = OpenDisk(filepath.Join(t.TempDir(), "missing"), DiskOptions{})
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestZeroScan(t *testing.T) {
	// Property: for any placement of non-zero bytes, what WriteAt stores
	// reads back identical.
	dir := t.TempDir()
	d, err := OpenDisk(dir, DiskOptions{})
	require.NoError(t, err)
	buf := make([]byte, 3*blockSize+100)
	offsets := []int{0, 1, blockSize - 1, blockSize, 2*blockSize + 5, len(buf) - 1}
	var off int64 = 17 // unaligned start
	var want []byte
	want = append(want, make([]byte, off)...)
	for _, o := range offsets {
		clear(buf)
		buf[o] = 0x5a
		_, err := d.WriteAt(buf, off)
		require.NoError(t, err)
		want = append(want, buf...)
		off += int64(len(buf))
	}
	require.NoError(t, d.Commit())
	got, err := os.ReadFile(filepath.Join(dir, DiskName))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got))
}
