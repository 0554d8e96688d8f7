package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tools is what TestMain prepares for the benchmark: the datamover binary
// and how it was built. It is set once, before any benchmark runs.
var tools struct {
	datamover string // path of the binary; "" when not benchmarking
	buildNote string // "static (netgo, osusergo)" or why not
}

// TestMain builds the datamover binary, as `make build` does, once for all
// cases. Without -test.bench it builds nothing: `go test ./...` stays quick.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "cdi-bench-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: temp dir: %v\n", err)
		os.Exit(1)
	}
	tools.datamover, tools.buildNote, err = buildDatamover(dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("datamover: %s build\n", tools.buildNote)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildDatamover builds ./functions/datamover into dir the way the Makefile
// does (cgo liblzma, statically linked) and falls back to a plain go build
// when static linking fails. It returns the binary and a note on the build.
func buildDatamover(dir string) (bin, note string, err error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", "", fmt.Errorf("go tool not found: %w", err)
	}
	out, err := exec.Command(goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin = filepath.Join(dir, "datamover")

	static := exec.Command(goTool, "build", "-tags", "netgo,osusergo",
		"-ldflags", `-s -w -linkmode external -extldflags "-static"`,
		"-o", bin, "./functions/datamover")
	static.Dir = root
	static.Env = append(os.Environ(), "CGO_ENABLED=1")
	staticOut, staticErr := static.CombinedOutput()
	if staticErr == nil {
		return bin, "static (CGO_ENABLED=1, netgo,osusergo, -extldflags -static, as make build)", nil
	}

	plain := exec.Command(goTool, "build", "-o", bin, "./functions/datamover")
	plain.Dir = root
	if plainOut, err := plain.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build ./functions/datamover: static: %v\n%s\nplain: %v\n%s", staticErr, staticOut, err, plainOut)
	}
	first := strings.SplitN(strings.TrimSpace(string(staticOut)), "\n", 2)[0]
	return bin, fmt.Sprintf("PLAIN go build (static linking failed: %s: %s)", staticErr, first), nil
}
