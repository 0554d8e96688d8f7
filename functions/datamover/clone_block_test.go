package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// loop attaches a loop device over backing.
func loop(t *testing.T, backing string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	out, err := exec.Command("losetup", "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// TestCloneBlockToBlock: a raw device to a raw device whose old content
// is garbage: zero blocks of the source are never sent, yet read back as
// zeros.
func TestCloneBlockToBlock(t *testing.T) {
	ctx := context.Background()
	files := newCloneFiles(t)
	img := sparseImage(t, t.TempDir(), 48<<20)
	dstBacking := filepath.Join(t.TempDir(), "dst")
	sh(t, "head -c 50331648 /dev/zero | tr '\\0' '\\356' > "+dstBacking)
	src, dst := loop(t, img), loop(t, dstBacking)
	addr := freeAddr(t)
	wait := startTarget(t, ctx, files, addr, dst)
	code, out := runSource(ctx, files, addr, src)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "block device")
	tcode, tout := wait()
	require.Equal(t, 0, tcode, tout)
	sh(t, "cmp "+src+" "+dst)
}
