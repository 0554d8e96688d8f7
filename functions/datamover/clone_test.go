package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/podcred"
)

// cloneFiles are the files the cloner will mount in the two pods.
type cloneFiles struct {
	credential, cert, key, ca, serverName string
}

// newCloneFiles issues a clone's credential with a fresh authority.
func newCloneFiles(t testing.TB) cloneFiles {
	t.Helper()
	a, err := podcred.New(time.Now())
	require.NoError(t, err)
	cred, err := a.IssueClone("uid-target", time.Now())
	require.NoError(t, err)
	dir := t.TempDir()
	f := cloneFiles{credential: filepath.Join(dir, "credential"), cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"),
		ca: filepath.Join(dir, "ca.crt"), serverName: podcred.CloneServerName("uid-target")}
	for p, b := range map[string][]byte{f.credential: []byte(cred.Bearer + "\n"), f.cert: cred.CertPEM, f.key: cred.KeyPEM, f.ca: a.CACertPEM()} {
		require.NoError(t, os.WriteFile(p, b, 0o600))
	}
	return f
}

// freeAddr is a loopback address nobody listens on (yet).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a goroutine-safe stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTarget runs clone-target in the background; wait returns its exit
// code and stderr.
func startTarget(t testing.TB, ctx context.Context, files cloneFiles, addr, target string, extra ...string) func() (int, string) {
	t.Helper()
	var stderr syncBuffer
	done := make(chan int, 1)
	args := append([]string{"clone-target", "--listen", addr, "--target", target, "--credential-file", files.credential,
		"--tls-cert", files.cert, "--tls-key", files.key, "--idle-timeout", "20s"}, extra...)
	go func() { done <- run(ctx, args, func(string) string { return "" }, nil, &stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "waiting for the clone source") }, 5*time.Second, 5*time.Millisecond)
	return func() (int, string) { return <-done, stderr.String() }
}

// runSource runs clone-source to addr and returns its exit code and
// stderr.
func runSource(ctx context.Context, files cloneFiles, addr, src string, extra ...string) (int, string) {
	var stderr bytes.Buffer
	args := append([]string{"clone-source", "--source", src, "--target-address", addr, "--credential-file", files.credential,
		"--tls-ca", files.ca, "--tls-server-name", files.serverName, "--max-retries", "3"}, extra...)
	code := run(ctx, args, func(string) string { return "" }, nil, &stderr)
	return code, stderr.String()
}

// sparseImage makes a sparse disk.img with data at a few places.
func sparseImage(t testing.TB, dir string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, "disk.img")
	sh(t, fmt.Sprintf("truncate -s %d %s && for off in 0 7 19 40; do head -c 700000 /dev/urandom | dd of=%s bs=1M seek=$off conv=notrunc status=none; done", size, p, p))
	return p
}

func sh(t testing.TB, script string) {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s: %s", script, out)
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	require.NoError(t, err)
	y, err := os.ReadFile(b)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(x, y), "%s and %s differ", a, b)
}

// allocated is the bytes a file stores.
func allocated(t *testing.T, p string) int64 {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%b*%B", p).Output()
	require.NoError(t, err)
	var blocks, size int64
	_, err = fmt.Sscanf(strings.TrimSpace(string(out)), "%d*%d", &blocks, &size)
	require.NoError(t, err)
	return blocks * size
}

func TestCloneCommands(t *testing.T) {
	files := newCloneFiles(t)
	tests := []struct {
		name  string
		setup func(t *testing.T) (src, dst string, check func(t *testing.T))
		args  []string
	}{
		{name: "disk image", setup: func(t *testing.T) (string, string, func(*testing.T)) {
			src, dst := t.TempDir(), t.TempDir()
			img := sparseImage(t, src, 48<<20)
			return src, dst, func(t *testing.T) {
				sameFile(t, img, filepath.Join(dst, "disk.img"))
				assert.LessOrEqual(t, allocated(t, filepath.Join(dst, "disk.img")), int64(4*720000), "holes stayed holes")
			}
		}},
		{name: "archive tree", args: []string{"--content-type", "archive"}, setup: func(t *testing.T) (string, string, func(*testing.T)) {
			src, dst := t.TempDir(), t.TempDir()
			sh(t, "cd "+src+" && mkdir -p 'd i r/sub' && echo hi > 'd i r/sub/f' && ln -s 'd i r/sub/f' link && ln 'd i r/sub/f' hard && printf x > $'tab\\tname'")
			sparseImage(t, src, 41<<20)
			return src, dst, func(t *testing.T) {
				sh(t, "diff -r --no-dereference "+src+" "+dst)
				sameFile(t, filepath.Join(src, "disk.img"), filepath.Join(dst, "disk.img"))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src, dst, check := tt.setup(t)
			addr := freeAddr(t)
			wait := startTarget(t, ctx, files, addr, dst)
			code, out := runSource(ctx, files, addr, src, tt.args...)
			require.Equal(t, 0, code, out)
			tcode, tout := wait()
			require.Equal(t, 0, tcode, tout)
			assert.Contains(t, out, "cloned a ")
			assert.Contains(t, tout, "cloned a ")
			check(t)
		})
	}
}

// TestCloneRefusesWrongCredential: a source without the clone's
// credential is refused (exit 1) and changes nothing; the target keeps
// waiting for the real one.
func TestCloneRefusesWrongCredential(t *testing.T) {
	ctx := context.Background()
	files := newCloneFiles(t)
	src, dst := t.TempDir(), t.TempDir()
	img := sparseImage(t, src, 8<<20)
	addr := freeAddr(t)
	wait := startTarget(t, ctx, files, addr, dst)

	wrong := files
	wrong.credential = filepath.Join(t.TempDir(), "wrong")
	require.NoError(t, os.WriteFile(wrong.credential, []byte("a-credential-of-another-clone"), 0o600))
	code, out := runSource(ctx, wrong, addr, src)
	assert.Equal(t, exitError, code, out)
	assert.Contains(t, out, "clone credential refused")

	other := newCloneFiles(t) // another clone's authority: the target is not trusted
	other.credential = files.credential
	code, out = runSource(ctx, other, addr, src, "--max-retries", "0")
	assert.Equal(t, exitRetryable, code, out)
	assert.Contains(t, out, "certificate")
	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	assert.Empty(t, entries)

	code, out = runSource(ctx, files, addr, src)
	require.Equal(t, 0, code, out)
	tcode, tout := wait()
	require.Equal(t, 0, tcode, tout)
	assert.Contains(t, tout, "refused a connection")
	sameFile(t, img, filepath.Join(dst, "disk.img"))
}

// cutProxy forwards connections to addr; the first one is cut after
// limit bytes from the source, and checkCut runs then.
func cutProxy(t *testing.T, addr string, limit int64, checkCut func()) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(c, u); c.Close() }()
			go func(first bool) {
				if first {
					_, _ = io.CopyN(u, c, limit)
					c.Close()
					u.Close()
					checkCut()
					return
				}
				_, _ = io.Copy(u, c)
				u.Close()
			}(i == 0)
		}
	}()
	return ln.Addr().String()
}

// TestCloneCutConnection: the connection is cut mid-stream; nothing is
// published, the source reconnects by itself and resumes, and the clone
// ends right.
func TestCloneCutConnection(t *testing.T) {
	ctx := context.Background()
	files := newCloneFiles(t)
	src, dst := t.TempDir(), t.TempDir()
	img := sparseImage(t, src, 48<<20)
	addr := freeAddr(t)
	wait := startTarget(t, ctx, files, addr, dst)
	var published []string
	proxy := cutProxy(t, addr, 2<<20, func() {
		es, _ := os.ReadDir(dst)
		for _, e := range es {
			if e.Name() == "disk.img" {
				published = append(published, e.Name())
			}
		}
	})
	code, out := runSource(ctx, files, proxy, src, "--compress", "none")
	require.Equal(t, 0, code, out)
	tcode, tout := wait()
	require.Equal(t, 0, tcode, tout)
	assert.Empty(t, published, "nothing published at the cut")
	assert.Contains(t, out, "connecting again")
	assert.NotContains(t, out, "resumed at 0 B", "resumed, not restarted")
	sameFile(t, img, filepath.Join(dst, "disk.img"))
}

// TestCloneTargetTooSmall: refused for good on both sides, nothing left.
func TestCloneTargetTooSmall(t *testing.T) {
	ctx := context.Background()
	files := newCloneFiles(t)
	src, dst := t.TempDir(), t.TempDir()
	sparseImage(t, src, 48<<20)
	addr := freeAddr(t)
	wait := startTarget(t, ctx, files, addr, dst, "--size", "16Mi")
	code, out := runSource(ctx, files, addr, src)
	assert.Equal(t, exitError, code, out)
	assert.Contains(t, out, "does not fit")
	tcode, tout := wait()
	assert.Equal(t, exitError, tcode, tout)
	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// TestCloneTargetIgnoresProbes: connections closed before their TLS
// handshake (the kubelet's TCP readiness probe) are not reported as
// refused sources, and the clone goes on.
func TestCloneTargetIgnoresProbes(t *testing.T) {
	ctx := context.Background()
	files := newCloneFiles(t)
	src, dst := t.TempDir(), t.TempDir()
	img := sparseImage(t, src, 4<<20)
	addr := freeAddr(t)
	wait := startTarget(t, ctx, files, addr, dst)
	for range 3 {
		var c net.Conn
		require.Eventually(t, func() bool {
			var err error
			c, err = net.Dial("tcp", addr)
			return err == nil
		}, 10*time.Second, 10*time.Millisecond, "the target listens")
		require.NoError(t, c.Close())
	}
	code, out := runSource(ctx, files, addr, src)
	require.Equal(t, 0, code, out)
	tcode, tout := wait()
	require.Equal(t, 0, tcode, tout)
	assert.NotContains(t, tout, "refused a connection")
	sameFile(t, img, filepath.Join(dst, "disk.img"))
}

func TestReconnectDelay(t *testing.T) {
	for failures, want := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond,
		8: 12800 * time.Millisecond, 9: 15 * time.Second, 40: 15 * time.Second,
	} {
		assert.Equal(t, want, reconnectDelay(failures), "after %d failures", failures)
	}
}
