package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// invocation is one run of the data mover.
type invocation struct {
	args  []string
	env   map[string]string
	stdin []byte
}

// outcome is what a run left: its exit code and stderr.
type outcome struct {
	code   int
	stderr string
}

func (inv invocation) run(t *testing.T) outcome {
	t.Helper()
	// The test servers listen on loopback, which the default egress
	// policy refuses: allow it unless the test sets the variable itself
	// (to "" for the default policy).
	env := map[string]string{datapod.EnvEgressAllow: "127.0.0.0/8"}
	maps.Copy(env, inv.env)
	var stderr bytes.Buffer
	code := run(context.Background(), inv.args, func(k string) string { return env[k] }, bytes.NewReader(inv.stdin), &stderr)
	return outcome{code: code, stderr: stderr.String()}
}

// lastLine is the final line of stderr: the result or the error.
func (o outcome) lastLine() string {
	lines := strings.Split(strings.TrimSpace(o.stderr), "\n")
	return lines[len(lines)-1]
}

// requireImported checks a successful import of want into dir.
func requireImported(t *testing.T, o outcome, dir string, want []byte) {
	t.Helper()
	require.Equal(t, exitOK, o.code, o.stderr)
	got, err := os.ReadFile(filepath.Join(dir, "disk.img"))
	require.NoError(t, err)
	require.Equal(t, len(want), len(got), "disk.img size")
	require.True(t, bytes.Equal(want, got), "disk.img differs from qemu-img convert -O raw of the source")
	assertNoLeftovers(t, dir)
}

// requireRefused checks a failed import: exit 1, one error line naming the
// cause, and no disk.img.
func requireRefused(t *testing.T, o outcome, dir, wantMsg string) {
	t.Helper()
	require.Equal(t, exitError, o.code, o.stderr)
	last := o.lastLine()
	assert.True(t, strings.HasPrefix(last, "error: "), "last stderr line is %q", last)
	assert.Contains(t, last, wantMsg)
	_, err := os.Stat(filepath.Join(dir, "disk.img"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a failed import must not leave disk.img")
	assertNoLeftovers(t, dir)
}

func assertNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	assert.Empty(t, left, "temporary files left in the target")
}

// sourceKind serves a fixture in one way and returns the import arguments.
type sourceKind struct {
	name  string
	serve func(t *testing.T, f *fixtures, name string) invocation
}

func sourceKinds(s3 func(t *testing.T) *sourcetest.S3) []sourceKind {
	return []sourceKind{
		{"file", func(t *testing.T, f *fixtures, name string) invocation {
			return invocation{args: []string{"--source", filepath.Join(f.dir, name)}}
		}},
		{"stdin", func(t *testing.T, f *fixtures, name string) invocation {
			return invocation{args: []string{"--source", "-"}, stdin: f.file(t, name)}
		}},
		{"http-ranges", func(t *testing.T, f *fixtures, name string) invocation {
			srv := sourcetest.NewServer(t, sourcetest.Config{Data: f.file(t, name)})
			return invocation{args: []string{"--source", srv.URL + "/" + name}}
		}},
		{"http-no-ranges", func(t *testing.T, f *fixtures, name string) invocation {
			srv := sourcetest.NewServer(t, sourcetest.Config{Data: f.file(t, name), NoRanges: true})
			return invocation{args: []string{"--source", srv.URL + "/" + name}}
		}},
		{"https-ca-basic-auth", func(t *testing.T, f *fixtures, name string) invocation {
			srv := sourcetest.NewServer(t, sourcetest.Config{Data: f.file(t, name), TLS: true, User: "user", Password: "pass"})
			secret := sourcetest.WriteSecretDir(t, "user", "pass")
			// Flags through the environment, as a data pod sets them.
			return invocation{
				args: []string{"--source", srv.URL + "/" + name},
				env:  map[string]string{"DATAMOVER_SECRET_DIR": secret, "DATAMOVER_CERT_DIR": srv.CertDir},
			}
		}},
		{"http-flaky", func(t *testing.T, f *fixtures, name string) invocation {
			// Drops every body after 1 MiB, answers every 4th request
			// with 503, refuses HEAD: resume must carry the import.
			srv := sourcetest.NewServer(t, sourcetest.Config{
				Data: f.file(t, name), RefuseHEAD: true, Fault: sourcetest.Drop, FaultAfter: 1 << 20, FaultCount: 3,
				FailEvery: 4, RetryAfter: "0",
			})
			return invocation{args: []string{"--source", srv.URL + "/" + name}}
		}},
		{"http-lying-length", func(t *testing.T, f *fixtures, name string) invocation {
			srv := sourcetest.NewServer(t, sourcetest.Config{
				Data: f.file(t, name), Fault: sourcetest.LieLength, FaultAfter: 2 << 20, FaultCount: 2,
			})
			return invocation{args: []string{"--source", srv.URL + "/" + name}}
		}},
		{"s3", func(t *testing.T, f *fixtures, name string) invocation {
			gw := s3(t)
			gw.Put(t, "images", name, f.file(t, name))
			return invocation{args: []string{"--source", "s3://images/" + name, "--s3-endpoint", gw.Endpoint, "--secret-dir", gw.SecretDir(t)}}
		}},
	}
}

// TestImportMatrix imports every format from every kind of source and
// compares the result byte for byte with qemu-img's conversion.
func TestImportMatrix(t *testing.T) {
	f := makeFixtures(t)
	var gw *sourcetest.S3
	s3 := func(t *testing.T) *sourcetest.S3 {
		if gw == nil {
			gw = sourcetest.StartS3(t)
		}
		return gw
	}
	// The gateway outlives the subtests: start it from the parent test.
	if _, err := sourcetest.FindVersityGW(); err == nil || os.Getenv("CI") != "" {
		gw = sourcetest.StartS3(t)
	}
	for _, kind := range sourceKinds(s3) {
		t.Run(kind.name, func(t *testing.T) {
			for _, name := range fixtureFormats {
				t.Run(name, func(t *testing.T) {
					inv := kind.serve(t, f, name)
					target, scratch := t.TempDir(), t.TempDir()
					inv.args = append([]string{"import", "--target", target, "--scratch", scratch}, inv.args...)
					requireImported(t, inv.run(t), target, f.want(t, name))
					entries, _ := os.ReadDir(scratch)
					assert.Empty(t, entries, "scratch space is cleaned up")
				})
			}
		})
	}
}
