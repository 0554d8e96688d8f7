package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

func TestImportChecksum(t *testing.T) {
	f := makeFixtures(t)
	for _, name := range []string{"disk.raw.xz", "disk.qcow2", "disk.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			sum := sha256.Sum256(f.file(t, name))
			// Over HTTP with ranges, so qcow2 is read in place and still
			// every source byte is hashed.
			srv := sourcetest.NewServer(t, sourcetest.Config{Data: f.file(t, name)})
			target := t.TempDir()
			o := invocation{args: []string{"import", "--source", srv.URL + "/x", "--target", target,
				"--checksum", "sha256:" + hex.EncodeToString(sum[:])}}.run(t)
			requireImported(t, o, target, f.raw)
		})
	}
}

func TestImportGrowsToSize(t *testing.T) {
	f := makeFixtures(t)
	for _, name := range []string{"disk.raw.gz", "disk.qcow2"} {
		t.Run(name, func(t *testing.T) {
			target := t.TempDir()
			o := invocation{args: []string{"import", "--source", filepath.Join(f.dir, name), "--target", target, "--size", "64Mi"}}.run(t)
			want := append(append([]byte{}, f.raw...), make([]byte, 64<<20-len(f.raw))...)
			requireImported(t, o, target, want)
			var st unix.Stat_t
			require.NoError(t, unix.Stat(filepath.Join(target, "disk.img"), &st))
			assert.Less(t, st.Blocks*512, int64(len(f.raw)), "growing is sparse, and zeros are holes")
		})
	}
}

func TestImportArchive(t *testing.T) {
	tooltest.Need(t, "tar", "gzip")
	dir := t.TempDir()
	tooltest.Sh(t, dir, `mkdir -p tree/sub && echo hello > tree/sub/a.txt && ln -s sub/a.txt tree/link && tar -C tree -czf tree.tar.gz .`)
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: mustRead(t, filepath.Join(dir, "tree.tar.gz"))})
	target := t.TempDir()
	o := invocation{args: []string{"import", "--source", srv.URL + "/tree.tar.gz", "--target", target, "--content-type", "archive"}}.run(t)
	require.Equal(t, exitOK, o.code, o.stderr)
	for _, name := range []string{"sub/a.txt", "link"} {
		b, err := os.ReadFile(filepath.Join(target, name))
		require.NoError(t, err)
		assert.Equal(t, "hello\n", string(b))
	}

	// Refusals leave the target untouched.
	tooltest.Sh(t, dir, `mkdir -p evil && ln -s /etc evil/etc && tar -C evil -cf evil.tar etc && head -c 1M /dev/urandom > plain.raw`)
	for name, want := range map[string]string{"evil.tar": "points outside the target", "plain.raw": "content type archive needs a tar archive"} {
		t.Run(name, func(t *testing.T) {
			target := t.TempDir()
			o := invocation{args: []string{"import", "--source", filepath.Join(dir, name), "--target", target, "--content-type", "archive"}}.run(t)
			requireRefused(t, o, target, want)
			entries, _ := os.ReadDir(target)
			assert.Empty(t, entries)
		})
	}
}

func TestImportBlockDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	f := makeFixtures(t)
	backing := filepath.Join(t.TempDir(), "backing")
	require.NoError(t, os.WriteFile(backing, []byte(strings.Repeat("\xee", 8<<20)), 0o644))
	out, err := exec.Command("losetup", "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device: %v %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })

	o := invocation{args: []string{"import", "--source", filepath.Join(f.dir, "disk.qcow2.xz"), "--target", dev, "--scratch", t.TempDir()}}.run(t)
	require.Equal(t, exitOK, o.code, o.stderr)
	got := mustRead(t, dev)
	want := append(append([]byte{}, f.raw...), make([]byte, 8<<20-len(f.raw))...)
	assert.True(t, string(want) == string(got), "device content differs")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
