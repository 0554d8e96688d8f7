package source

import (
	"context"
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

// requireRefused checks a final egress refusal naming want.
func requireRefused(t *testing.T, err error, want string) {
	t.Helper()
	require.ErrorIs(t, err, egress.ErrDenied)
	assert.False(t, Retryable(err), "an egress refusal is final: %v", err)
	assert.Contains(t, err.Error(), want)
}

func TestEgressRefusedBeforeConnecting(t *testing.T) {
	target := sourcetest.NewUntouched(t)
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
		{name: "loopback literal, default policy", url: "http://127.0.0.1:" + target.Port + "/disk.img",
			want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "loopback by name, refused at dial time", url: "http://localhost:" + target.Port + "/disk.img",
			want: "is loopback: refused by the egress policy"},
		{name: "loopback allowed elsewhere only", url: "http://127.0.0.1:" + target.Port + "/x", opts: func(o *Options) { o.Egress = only127_0_0_2 },
			want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "https too", url: "https://localhost:" + target.Port + "/x", opts: func(o *Options) { o.Egress = only127_0_0_2 },
			want: "is loopback: refused by the egress policy"},
		{name: "S3 endpoint literal", url: "s3://images/disk.img", opts: func(o *Options) { o.S3Endpoint = "http://169.254.169.254:9000" },
			want: "S3 endpoint http://169.254.169.254:9000: 169.254.169.254 is link-local (cloud metadata)"},
		{name: "S3 endpoint by name, refused at dial time", url: "s3://images/disk.img",
			opts: func(o *Options) { o.S3Endpoint = "http://localhost:" + target.Port },
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
			target.RequireUntouched(t)
		})
	}
}

func TestEgressRedirects(t *testing.T) {
	data := testData(1000)
	target := sourcetest.NewUntouched(t)
	tests := []struct {
		name     string
		location string
		want     string
	}{
		{name: "to a literal address", location: "http://127.0.0.1:" + target.Port + "/disk.img",
			want: "redirect to http://127.0.0.1:" + target.Port + "/disk.img: 127.0.0.1 is loopback: refused by the egress policy"},
		{name: "to the metadata service", location: "http://169.254.169.254/latest/meta-data/iam/",
			want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "to a name of a refused address", location: "http://localhost:" + target.Port + "/disk.img",
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
			target.RequireUntouched(t)
		})
	}
}
