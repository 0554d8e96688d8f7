// Package tooltest lets tests use the real image tools (qemu-img, xz, zstd,
// gzip, tar, …) to make their fixtures.
package tooltest

import (
	"os"
	"os/exec"
	"testing"
)

// Need skips the test when one of the tools is not installed, or fails it
// under CI (CI=true), where .ci/run installs them all.
func Need(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%s is not installed (.ci/run installs it)", tool)
			}
			tb.Skipf("%s is not installed", tool)
		}
	}
}

// Sh runs script with bash (errexit, nounset, pipefail) in dir and fails
// the test, showing the script and its output, if it fails.
func Sh(tb testing.TB, dir, script string) {
	tb.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%v\n%s\n%s", err, script, out)
	}
}
