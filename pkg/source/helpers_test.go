package source

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// testData returns n reproducible pseudo-random bytes.
func testData(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
	return b
}

// fastOptions are Options with test-sized timeouts and an egress policy
// that lets the loopback test servers through.
func fastOptions() Options {
	return Options{
		StallTimeout: 300 * time.Millisecond,
		MaxRetries:   5,
		BackoffBase:  time.Millisecond,
		BackoffMax:   20 * time.Millisecond,
		Egress:       allowLoopback(),
	}
}

// allowLoopback is the default egress policy with loopback allowed, where
// every test server listens.
func allowLoopback() *egress.Policy {
	return egress.Default().Allow(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
}

// readAll opens the whole source and reads it with small reads (Read path).
func readAll(t *testing.T, src Source) ([]byte, error) {
	t.Helper()
	rc, err := src.Open(context.Background(), 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// rangeStart parses the first offset of a "bytes=a-b" header.
func rangeStart(t *testing.T, h string) int64 {
	t.Helper()
	if h == "" {
		return 0
	}
	v, ok := strings.CutPrefix(h, "bytes=")
	require.True(t, ok, "range header %q", h)
	a, _, _ := strings.Cut(v, "-")
	n, err := strconv.ParseInt(a, 10, 64)
	require.NoError(t, err)
	return n
}

// requireResumes checks that every GET of the log after the probe started
// where the previous answers left off: never from zero again, never
// skipping bytes.
func requireResumes(t *testing.T, gets []sourcetest.Request, probe bool) {
	t.Helper()
	if probe {
		require.NotEmpty(t, gets)
		require.Equal(t, "bytes=0-0", gets[0].Range, "first GET is the probe")
		gets = gets[1:]
	}
	var next int64
	for i, g := range gets {
		start := rangeStart(t, g.Range)
		require.Equalf(t, next, start, "GET %d (%+v) must start at the first missing byte", i, g)
		if g.Status == 200 || g.Status == 206 {
			next = start + g.Sent
		}
	}
}

var testModTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }
