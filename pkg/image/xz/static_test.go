//go:build cgo

package xz

import (
	"bytes"
	"context"
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staticBuildArgs are the `go build` arguments that link liblzma (liblzma.a)
// and the C library into a binary that needs no shared library, for
// distroless/static images. netgo and osusergo keep net and os/user from
// glibc's NSS, which cannot be linked statically.
var staticBuildArgs = []string{
	"-tags", "netgo,osusergo",
	"-ldflags", `-linkmode external -extldflags "-static"`,
}

func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goTool, err := exec.LookPath("go")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "xzcat")
	build := exec.CommandContext(context.Background(), goTool,
		append(append([]string{"build", "-o", bin}, staticBuildArgs...), "./testdata/xzcat")...)
	build.Env = append(build.Environ(), "CGO_ENABLED=1")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.NotContains(t, string(out), "warning", "the static link must be clean")

	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no dynamic loader")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs)

	data := image(t, 2*extent, 6)
	input := compress(t, data, "-1", "-T2", "--block-size=256KiB")
	run := exec.CommandContext(context.Background(), bin)
	run.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	require.NoError(t, run.Run(), stderr.String())
	assert.True(t, strings.HasPrefix(stderr.String(), "liblzma "), stderr.String())
	assert.True(t, bytes.Equal(data, stdout.Bytes()), "static binary output differs")
}
