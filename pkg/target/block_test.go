package target

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loopDevice attaches a loop device over a file of size bytes filled with
// garbage, so the test sees whether holes are zeroed on the device.
func loopDevice(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	backing := filepath.Join(t.TempDir(), "backing")
	require.NoError(t, os.WriteFile(backing, bytes.Repeat([]byte{0xee}, size), 0o644))
	out, err := exec.Command("losetup", "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device available: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	return dev
}

func TestBlockDevice(t *testing.T) {
	dev := loopDevice(t, 4<<20)
	d, err := OpenDisk(dev, DiskOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(4<<20), d.Capacity())

	data := make([]byte, 2<<20)
	copy(data[1<<20:], bytes.Repeat([]byte{0x11}, 4096))
	_, err = Copy(context.Background(), d, bytes.NewReader(data))
	require.NoError(t, err)
	require.NoError(t, d.Commit())

	got, err := os.ReadFile(dev)
	require.NoError(t, err)
	want := append(data, make([]byte, 2<<20)...)
	assert.True(t, bytes.Equal(want, got), "the device must hold the image and zeros elsewhere, not its old content")

	// An image larger than the device is refused.
	d, err = OpenDisk(dev, DiskOptions{})
	require.NoError(t, err)
	_, err = Copy(context.Background(), d, bytes.NewReader(make([]byte, 5<<20)))
	require.ErrorIs(t, err, ErrCapacity)
	d.Abort()
}
