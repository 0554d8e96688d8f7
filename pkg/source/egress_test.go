package source

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// untouched is a loopback listener that nothing may connect to: a test
// points a refused source at it and then checks that no connection was
// made. It never accepts, so a connection could only wait in the backlog.
type untouched struct {
	l    *net.TCPListener
	port string
}

func newUntouched(t *testing.T) *untouched {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return &untouched{l: l.(*net.TCPListener), port: port}
}

// requireUntouched fails if a connection reached the listener. A connect
// completes the handshake into the backlog before the dialer returns, so
// an Accept with an expired deadline finds it.
func (u *untouched) requireUntouched(t *testing.T) {
	t.Helper()
	require.NoError(t, u.l.SetDeadline(time.Now()))
	c, err := u.l.Accept()
	if err == nil {
		_ = c.Close()
		t.Fatal("a connection reached the listener the egress policy protects")
	}
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "accept: %v", err)
}

// requireRefused checks a final egress refusal naming want.
func requireRefused(t *testing.T, err error, want string) {
	t.Helper()
	require.ErrorIs(t, err, egress.ErrDenied)
	assert.False(t, Retryable(err), "an egress refusal is final: %v", err)
	assert.Contains(t, err.Error(), want)
}

func TestEgressRefusedBeforeConnecting(t *testing.T) {
	target := newUntouched(t)
	only127_0_0_2 := egress.Default().Allow(netip.MustParsePrefix("127.0.0.2/32"))
	tests := []struct {
		name string
		url  string
		opts func(*Options)
		want string
	}{
		{name: "cloud metadata, default policy", url: "http://169.254.169.254/latest/meta-data/",
			want: "GET http://169.254.169.254/latest/meta-data/: 169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "IPv4-mapped metadata", url: "http://[::ffff:169.254.169.254]/latest/",
			want: "::ffff:169.254.169.254 is link-local (cloud metadata)"},
		{name: "loopback literal, default policy", url: "http://127.0.0.1:" + target.port + "/disk.img",
			want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "loopback by name, refused at dial time", url: "http://localhost:" + target.port + "/disk.img",
			want: "is loopback: refused by the egress policy"},
		{name: "loopback allowed elsewhere only", url: "http://127.0.0.1:" + target.port + "/x", opts: func(o *Options) { o.Egress = only127_0_0_2 },
			want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "https too", url: "https://localhost:" + target.port + "/x", opts: func(o *Options) { o.Egress = only127_0_0_2 },
			want: "is loopback: refused by the egress policy"},
		{name: "S3 endpoint literal", url: "s3://images/disk.img", opts: func(o *Options) { o.S3Endpoint = "http://169.254.169.254:9000" },
			want: "S3 endpoint http://169.254.169.254:9000: 169.254.169.254 is link-local (cloud metadata)"},
		{name: "S3 endpoint by name, refused at dial time", url: "s3://images/disk.img",
			opts: func(o *Options) { o.S3Endpoint = "http://localhost:" + target.port },
			want: "is loopback: refused by the egress policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			opts := Options{MaxRetries: 3, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond, Logger: zap.New(core)}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, err := New(context.Background(), tt.url, opts)
			requireRefused(t, err, tt.want)
			assert.Empty(t, logs.FilterMessageSnippet("retrying").All(), "a refusal is not retried")
			target.requireUntouched(t)
		})
	}
}

func TestEgressRedirects(t *testing.T) {
	data := testData(1000)
	target := newUntouched(t)
	tests := []struct {
		name     string
		location string
		want     string
	}{
		{name: "to a literal address", location: "http://127.0.0.1:" + target.port + "/disk.img",
			want: "redirect to http://127.0.0.1:" + target.port + "/disk.img: 127.0.0.1 is loopback: refused by the egress policy"},
		{name: "to the metadata service", location: "http://169.254.169.254/latest/meta-data/iam/",
			want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "to a name of a refused address", location: "http://localhost:" + target.port + "/disk.img",
			want: "is loopback: refused by the egress policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front := sourcetest.NewServer(t, sourcetest.Config{Data: data, Addr: "127.0.0.2:0",
				Handler: http.RedirectHandler(tt.location, http.StatusFound)})
			opts := fastOptions()
			opts.Egress = egress.Default().Allow(netip.MustParsePrefix("127.0.0.2/32"))
			_, err := New(context.Background(), front.URL+"/disk.img", opts)
			requireRefused(t, err, tt.want)
			assert.Len(t, front.Requests(), 1, "not retried")
			target.requireUntouched(t)
		})
	}
}
