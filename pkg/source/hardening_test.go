package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// recorder is a loopback HTTP server whose handler is the test's, and
// which records the request headers.
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

func TestCredentialsInURLRefused(t *testing.T) {
	tests := []struct {
		name, url string
		opts      Options
		want      string
	}{
		{name: "user and password", url: "http://bob:hunter2@images.example/disk.img?X-Amz-Signature=sig0", want: "source http://images.example/disk.img?…"},
		{name: "user only (a token)", url: "https://hunter2@images.example/disk.img", want: "source https://images.example/disk.img"},
		{name: "S3 URL", url: "s3://AKIAHUNTER2:hunter2@bucket/disk.img", want: "source s3://bucket/disk.img"},
		{name: "S3 endpoint", url: "s3://bucket/disk.img", opts: Options{S3Endpoint: "http://bob:hunter2@minio.example:9000"},
			want: "S3 endpoint http://minio.example:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), tt.url, tt.opts)
			require.ErrorIs(t, err, ErrCredentialsInURL)
			assert.False(t, Retryable(err))
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "put them in the Secret")
			for _, secret := range []string{"hunter2", "bob", "sig0"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestRedirectSchemes(t *testing.T) {
	data := testData(1000)
	plain := sourcetest.NewServer(t, sourcetest.Config{Data: data})
	tests := []struct {
		name     string
		tls      bool
		location string
		want     string
	}{
		{name: "to a file", location: "file:///etc/passwd", want: "to file:///etc/passwd: only http and https are followed"},
		{name: "to ftp", location: "ftp://images.example/disk.img", want: "only http and https are followed"},
		{name: "to gopher", location: "gopher://images.example/1", want: "only http and https are followed"},
		{name: "https to http", tls: true, location: plain.URL + "/disk.img?X-Amz-Signature=sig0",
			want: "to " + plain.URL + "/disk.img?…: https is never downgraded to http"},
		{name: "to a URL with credentials", location: "http://bob:hunter2@127.0.0.1:1/x", want: "credentials in the URL are not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front := sourcetest.NewServer(t, sourcetest.Config{TLS: tt.tls, Handler: http.RedirectHandler(tt.location, http.StatusFound)})
			opts := fastOptions()
			opts.CertDir = front.CertDir
			_, err := New(context.Background(), front.URL+"/disk.img", opts)
			require.ErrorIs(t, err, ErrRedirect)
			assert.False(t, Retryable(err), "a refused redirect is final")
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "sig0")
			assert.NotContains(t, err.Error(), "hunter2")
			assert.Len(t, front.Requests(), 1, "not retried")
		})
	}
	assert.Empty(t, plain.Requests(), "the downgrade was not followed")

	t.Run("http to https is followed", func(t *testing.T) {
		secure := sourcetest.NewServer(t, sourcetest.Config{Data: data, TLS: true})
		front := sourcetest.NewServer(t, sourcetest.Config{RedirectTo: secure.URL})
		opts := fastOptions()
		opts.CertDir = secure.CertDir
		src, err := New(context.Background(), front.URL+"/disk.img", opts)
		require.NoError(t, err)
		got, err := readAll(t, src)
		require.NoError(t, err)
		require.Equal(t, data, got)
	})
}

func TestContentEncodingRefused(t *testing.T) {
	data := testData(100000)
	encoded := func(first bool, encoding string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if probe := r.Header.Get("Range") == "bytes=0-0"; probe == first {
				w.Header().Set("Content-Encoding", encoding)
			}
			w.Header().Set("ETag", `"v1"`)
			http.ServeContent(w, r, "", testModTime, bytesReader(data))
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		atOpen  bool // the probe passes, the data GET is refused
		want    string
	}{
		{name: "gzip on the probe", handler: encoded(true, "gzip"), want: `Content-Encoding "gzip" although the request accepted identity only`},
		{name: "br", handler: encoded(true, "br"), want: `Content-Encoding "br"`},
		{name: "a list", handler: encoded(true, "identity, gzip"), want: `Content-Encoding "identity, gzip"`},
		{name: "gzip on the data GET", handler: encoded(false, "gzip"), atOpen: true, want: `Content-Encoding "gzip"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, tt.handler)
			src, err := New(context.Background(), srv.URL+"/disk.img", fastOptions())
			if tt.atOpen {
				require.NoError(t, err)
				_, err = src.Open(context.Background(), 0, -1)
			}
			require.ErrorIs(t, err, ErrContentEncoding)
			assert.False(t, Retryable(err))
			assert.Contains(t, err.Error(), tt.want)
			reqs := srv.requests()
			for _, h := range reqs {
				assert.Equal(t, "identity", h.Get("Accept-Encoding"), "every request asks for the bytes as they are")
			}
			if tt.atOpen {
				assert.Len(t, reqs, 2, "probe and one GET, not retried")
			} else {
				assert.Len(t, reqs, 1, "not retried")
			}
		})
	}

	t.Run("identity is fine", func(t *testing.T) {
		srv := newRecorder(t, encoded(true, "identity"))
		src, err := New(context.Background(), srv.URL, fastOptions())
		require.NoError(t, err)
		got, err := readAll(t, src)
		require.NoError(t, err)
		require.Equal(t, data, got)
	})
}

// dropping serves data with ranges and the given validators, and drops the
// connection of the first data GET after half the body.
func dropping(t *testing.T, data []byte, etag, lastModified string) *recorder {
	t.Helper()
	var once sync.Once
	return newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		if lastModified != "" {
			w.Header().Set("Last-Modified", lastModified)
		}
		if r.Header.Get("Range") == "bytes=0-0" || r.Header.Get("Range") != "" {
			http.ServeContent(w, r, "", time.Time{}, bytesReader(data))
			return
		}
		drop := false
		once.Do(func() { drop = true })
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if !drop {
			_, _ = w.Write(data)
			return
		}
		_, _ = w.Write(data[:len(data)/2])
		_ = http.NewResponseController(w).Flush()
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = c.Close()
		}
	})
}

func TestResumeNeedsValidator(t *testing.T) {
	data := testData(300000)
	lm := testModTime.Format(http.TimeFormat)
	tests := []struct {
		name          string
		etag, lastMod string
		wantRanges    bool
	}{
		{name: "strong ETag", etag: `"v1"`, wantRanges: true},
		{name: "Last-Modified", lastMod: lm, wantRanges: true},
		{name: "weak ETag and Last-Modified", etag: `W/"v1"`, lastMod: lm, wantRanges: true},
		{name: "weak ETag only", etag: `W/"v1"`},
		{name: "no validator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dropping(t, data, tt.etag, tt.lastMod)
			src, err := New(context.Background(), srv.URL+"/disk.img", fastOptions())
			require.NoError(t, err)
			assert.Equal(t, tt.wantRanges, src.Ranges())
			got, err := readAll(t, src)
			reqs := srv.requests()
			require.NotEmpty(t, reqs)
			assert.Equal(t, "bytes=0-0", reqs[0].Get("Range"), "the probe")
			if tt.wantRanges {
				// The data GET is ranged, so the drop never happens.
				require.NoError(t, err)
				require.Equal(t, data, got)
				for _, h := range reqs[1:] {
					assert.NotEmpty(t, h.Get("If-Range"), "every range request carries the validator")
				}
				return
			}
			require.ErrorIs(t, err, ErrNoValidator)
			assert.True(t, Retryable(err), "the import starts again from byte 0")
			assert.Contains(t, err.Error(), "transfer broke at offset 150000")
			require.Len(t, reqs, 2, "no resume")
			assert.Empty(t, reqs[1].Get("Range"), "no range without a validator")
			_, err = src.Open(context.Background(), 10, 10)
			require.ErrorIs(t, err, ErrNoRanges, "no random access either")
		})
	}
}

// trickle answers with a large Content-Length and then sends one byte
// every interval until the client goes away.
func trickle(t *testing.T, interval time.Duration) *recorder {
	t.Helper()
	const size = 1 << 20
	return newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("Range") == "bytes=0-0" {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-0/%d", size))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write([]byte{0})
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		rc := http.NewResponseController(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte{1}); err != nil {
					return
				}
				_ = rc.Flush()
			}
		}
	})
}

func TestMinimumRate(t *testing.T) {
	srv := trickle(t, 5*time.Millisecond)
	opts := fastOptions()
	opts.StallTimeout = time.Second
	opts.MinRate = 10 << 10
	opts.MinRateWindow = 200 * time.Millisecond
	src, err := New(context.Background(), srv.URL, opts)
	require.NoError(t, err)
	start := time.Now()
	_, err = readAll(t, src)
	require.ErrorIs(t, err, ErrTooSlow)
	assert.Contains(t, err.Error(), "below the minimum of 10240 B/s")
	assert.True(t, Retryable(err))
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Len(t, srv.requests(), 2, "probe and one GET: a too slow transfer is not resumed")
}

func TestDeadline(t *testing.T) {
	t.Run("during the transfer", func(t *testing.T) {
		srv := trickle(t, 5*time.Millisecond)
		opts := fastOptions()
		opts.StallTimeout = time.Second
		opts.MinRate = -1
		opts.Deadline = 300 * time.Millisecond
		src, err := New(context.Background(), srv.URL, opts)
		require.NoError(t, err)
		_, err = readAll(t, src)
		require.ErrorIs(t, err, ErrDeadline)
		assert.Contains(t, err.Error(), "the download took longer than 300ms")
		assert.False(t, Retryable(err), "the deadline is final")
	})
	t.Run("before the first answer", func(t *testing.T) {
		srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		opts := fastOptions()
		opts.StallTimeout = time.Minute
		opts.Deadline = 100 * time.Millisecond
		_, err := New(context.Background(), srv.URL, opts)
		require.ErrorIs(t, err, ErrDeadline)
		assert.False(t, Retryable(err))
	})
}

func TestRateMeter(t *testing.T) {
	type step struct {
		n int
		d time.Duration
	}
	tests := []struct {
		name    string
		min     int64
		steps   []step
		wantErr int // index of the step that fails, -1 for none
	}{
		{name: "fast", min: 1000, steps: []step{{5000, time.Second}, {5000, time.Second}, {5000, time.Second}}, wantErr: -1},
		{name: "a byte a second", min: 1000, steps: []step{{1, time.Second}, {1, time.Second}, {1, time.Second}}, wantErr: 1},
		{name: "slow start, then fast", min: 1000, steps: []step{{0, 1500 * time.Millisecond}, {10000, 500 * time.Millisecond}}, wantErr: -1},
		{name: "fast, then a slow window", min: 1000, steps: []step{{4000, 2 * time.Second}, {100, 2 * time.Second}}, wantErr: 1},
		{name: "one long wait", min: 1000, steps: []step{{10, 10 * time.Second}}, wantErr: 0},
		{name: "no minimum", min: 0, steps: []step{{0, time.Hour}}, wantErr: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := rateMeter{min: tt.min, window: 2 * time.Second}
			failed := -1
			for i, s := range tt.steps {
				if err := m.add(s.n, s.d); err != nil {
					require.ErrorIs(t, err, ErrTooSlow)
					failed = i
					break
				}
			}
			assert.Equal(t, tt.wantErr, failed)
		})
	}
}

func TestRetryableFinalFailures(t *testing.T) {
	denied := &net.OpError{Op: "dial", Net: "tcp", Err: &egress.DeniedError{Reason: "loopback"}}
	tests := []struct {
		err  error
		want bool
	}{
		{denied, false},
		{transient(fmt.Errorf("GET x: %w", denied), 0), false},
		{fmt.Errorf("x: %w", ErrDeadline), false},
		{fmt.Errorf("x: %w", ErrRedirect), false},
		{fmt.Errorf("x: %w", ErrContentEncoding), false},
		{fmt.Errorf("x: %w", ErrCredentialsInURL), false},
		{fmt.Errorf("x: %w", ErrTooSlow), true},
		{fmt.Errorf("x: %w", ErrNoValidator), true},
		{io.ErrUnexpectedEOF, false},
		{errors.New("other"), false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Retryable(tt.err), tt.err.Error())
	}
}

// TestRetriesAreNotSlowness: time spent backing off and reconnecting after
// broken transfers is bounded by the retry policy, not taken for a slow
// source: the download resumes and completes.
func TestRetriesAreNotSlowness(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: data, Fault: sourcetest.Drop, FaultAfter: 256 << 10, FaultCount: 3})
	opts := fastOptions()
	// Three backoffs of 200-400 ms each (jittered): any window of 500 ms
	// that counted them would hold at most 1 MiB, far below 8 MiB/s.
	opts.BackoffBase, opts.BackoffMax = 400*time.Millisecond, 400*time.Millisecond
	opts.MinRate = 8 << 20
	opts.MinRateWindow = 500 * time.Millisecond
	src, err := New(context.Background(), srv.URL+"/disk.img", opts)
	require.NoError(t, err)
	got, err := readAll(t, src)
	require.NoError(t, err)
	assert.Equal(t, data, got)
}
