package source

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

const (
	testSize = 4<<20 + 12345 // not a multiple of anything
	mib      = 1 << 20
)

func TestHTTPFaults(t *testing.T) {
	data := testData(testSize)
	ca := sourcetest.NewCA(t)
	tests := []struct {
		name       string
		cfg        sourcetest.Config
		secret     [2]string // user, password
		wantRanges bool
		wantGETs   int // data GETs after the probe, 0 = do not check
		wantErr    error
	}{
		{name: "plain", wantRanges: true, wantGETs: 1},
		{name: "no ranges", cfg: sourcetest.Config{NoRanges: true}, wantGETs: 1},
		{name: "drop every body after 1 MiB", cfg: sourcetest.Config{Fault: sourcetest.Drop, FaultAfter: mib}, wantRanges: true, wantGETs: 5},
		{name: "drop at odd offset", cfg: sourcetest.Config{Fault: sourcetest.Drop, FaultAfter: 777777, FaultCount: 2}, wantRanges: true, wantGETs: 3},
		{name: "lying Content-Length", cfg: sourcetest.Config{Fault: sourcetest.LieLength, FaultAfter: mib, FaultCount: 2}, wantRanges: true, wantGETs: 3},
		{name: "short chunked body", cfg: sourcetest.Config{Fault: sourcetest.ShortBody, FaultAfter: 2 * mib, FaultCount: 1}, wantRanges: true, wantGETs: 2},
		{name: "stall", cfg: sourcetest.Config{Fault: sourcetest.Stall, FaultAfter: mib, FaultCount: 1}, wantRanges: true, wantGETs: 2},
		{name: "503 every 2nd request", cfg: sourcetest.Config{FailEvery: 2, RetryAfter: "0", Fault: sourcetest.Drop, FaultAfter: mib}, wantRanges: true},
		{name: "HEAD refused", cfg: sourcetest.Config{RefuseHEAD: true}, wantRanges: true, wantGETs: 1},
		{name: "basic auth", cfg: sourcetest.Config{User: "alice", Password: "s3cr3t"}, secret: [2]string{"alice", "s3cr3t"}, wantRanges: true, wantGETs: 1},
		{name: "TLS with own CA and drops", cfg: sourcetest.Config{TLS: true, CA: ca, Fault: sourcetest.Drop, FaultAfter: 3 * mib}, wantRanges: true, wantGETs: 2},
		{name: "no ranges, 503 before the body", cfg: sourcetest.Config{NoRanges: true, FailEvery: 2}, wantGETs: 2},
		{name: "no ranges, dropped", cfg: sourcetest.Config{NoRanges: true, Fault: sourcetest.Drop, FaultAfter: mib}, wantGETs: 1, wantErr: ErrNoRanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Data = data
			srv := sourcetest.NewServer(t, cfg)
			opts := fastOptions()
			opts.CertDir = srv.CertDir
			if tc.secret[0] != "" {
				opts.SecretDir = sourcetest.WriteSecretDir(t, tc.secret[0], tc.secret[1])
			}
			src, err := New(context.Background(), srv.URL+"/disk.img", opts)
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), src.Size())
			assert.Equal(t, tc.wantRanges, src.Ranges())

			got, err := readAll(t, src)
			gets := srv.GETs()
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), "cannot resume")
			} else {
				require.NoError(t, err)
				require.Equal(t, len(data), len(got))
				require.True(t, string(data) == string(got), "bytes differ")
				requireResumes(t, gets, true)
			}
			if tc.wantGETs > 0 {
				assert.Len(t, gets, tc.wantGETs+1, "probe + data GETs: %+v", gets)
			}
		})
	}
}

// TestHTTPWriteTo reads through io.Copy (the WriterTo path) across drops.
func TestHTTPWriteTo(t *testing.T) {
	data := testData(testSize)
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: data, Fault: sourcetest.Drop, FaultAfter: 1500000})
	core, logs := observer.New(zap.WarnLevel)
	opts := fastOptions()
	opts.Logger = zap.New(core)
	src, err := New(context.Background(), srv.URL, opts)
	require.NoError(t, err)
	rc, err := src.Open(context.Background(), 0, -1)
	require.NoError(t, err)
	defer rc.Close()
	var buf writerOnly
	n, err := io.Copy(&buf, rc)
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), n)
	require.True(t, string(data) == string(buf.b))
	requireResumes(t, srv.GETs(), true)

	// Each resume is logged with the offset it resumes from.
	var offsets []int64
	for _, e := range logs.All() {
		offsets = append(offsets, e.ContextMap()["offset"].(int64))
	}
	assert.Equal(t, []int64{1500000, 3000000}, offsets)
}

type writerOnly struct{ b []byte }

func (w *writerOnly) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func TestHTTPRanges(t *testing.T) {
	data := testData(testSize)
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: data, Fault: sourcetest.Drop, FaultAfter: 100000})
	src, err := New(context.Background(), srv.URL, fastOptions())
	require.NoError(t, err)
	ctx := context.Background()
	tests := []struct {
		off, length int64
		want        []byte
	}{
		{0, 10, data[:10]},
		{1, 1, data[1:2]},
		{12345, 300000, data[12345 : 12345+300000]},
		{testSize - 5, -1, data[testSize-5:]},
		{testSize - 5, 100, data[testSize-5:]}, // cut at the end
		{testSize, -1, nil},
		{100, 0, nil},
	}
	for _, tc := range tests {
		rc, err := src.Open(ctx, tc.off, tc.length)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.Equalf(t, len(tc.want), len(got), "Open(%d, %d)", tc.off, tc.length)
		require.Truef(t, string(tc.want) == string(got), "Open(%d, %d)", tc.off, tc.length)
	}
	_, err = src.Open(ctx, testSize+1, 1)
	require.Error(t, err)

	// Parallel ReadAt through NewReaderAt, every body cut every 100 kB.
	ra := NewReaderAt(ctx, src)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			buf := make([]byte, 250000)
			off := int64(g) * 500000
			n, err := ra.ReadAt(buf, off)
			switch {
			case err != nil:
				errs <- err
			case n != len(buf) || string(buf) != string(data[off:off+int64(n)]):
				errs <- errors.New("ReadAt returned wrong bytes")
			default:
				errs <- nil
			}
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	buf := make([]byte, 100)
	n, err := ra.ReadAt(buf, testSize-40)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, 40, n)
	require.True(t, string(buf[:n]) == string(data[testSize-40:]))
}

func TestHTTPNoRangesRefusesOffsets(t *testing.T) {
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: testData(1000), NoRanges: true})
	src, err := New(context.Background(), srv.URL, fastOptions())
	require.NoError(t, err)
	require.False(t, src.Ranges())
	_, err = src.Open(context.Background(), 10, -1)
	require.ErrorIs(t, err, ErrNoRanges)
	_, err = NewReaderAt(context.Background(), src).ReadAt(make([]byte, 10), 10)
	require.ErrorIs(t, err, ErrNoRanges)
}

func TestHTTPErrors(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(forbidden.Close)
	authSrv := sourcetest.NewServer(t, sourcetest.Config{Data: testData(100), User: "alice", Password: "right-password"})
	tlsSrv := sourcetest.NewServer(t, sourcetest.Config{Data: testData(100), TLS: true})
	otherCA := sourcetest.NewCA(t)
	down := sourcetest.NewServer(t, sourcetest.Config{Data: testData(100), FailEvery: 1, RetryAfter: "1"})

	tests := []struct {
		name     string
		url      string
		secret   [2]string
		certDir  string
		wantIs   error
		wantText []string
	}{
		{name: "404", url: notFound.URL + "/x.img", wantIs: ErrNotFound, wantText: []string{"not found", "404"}},
		{name: "403", url: forbidden.URL, wantIs: ErrAccessDenied, wantText: []string{"access denied", "403"}},
		{name: "no credentials", url: authSrv.URL, wantIs: ErrAccessDenied, wantText: []string{"401"}},
		{name: "wrong password", url: authSrv.URL, secret: [2]string{"alice", "wrong-password"}, wantIs: ErrAccessDenied},
		{name: "TLS without cert dir", url: tlsSrv.URL, wantText: []string{"TLS", "no cert dir"}},
		{name: "TLS with another CA", url: tlsSrv.URL, certDir: otherCA.CertDir, wantText: []string{"TLS", otherCA.CertDir}},
		{name: "server keeps failing", url: down.URL, wantText: []string{"giving up", "503"}},
		{name: "ftp", url: "ftp://example.invalid/x", wantIs: ErrUnsupportedScheme, wantText: []string{"http://", "s3://", "file://"}},
		{name: "credentials in URL are refused, not shown", url: "http://bob:hunter2@127.0.0.1:1/x?X-Amz-Signature=abc",
			wantIs: ErrCredentialsInURL, wantText: []string{"http://127.0.0.1:1/x?…", "--secret-dir"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := fastOptions()
			opts.MaxRetries = 2
			opts.CertDir = tc.certDir
			if tc.secret[0] != "" {
				opts.SecretDir = sourcetest.WriteSecretDir(t, tc.secret[0], tc.secret[1])
			}
			start := time.Now()
			_, err := New(context.Background(), tc.url, opts)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 900*time.Millisecond, "Retry-After is capped by BackoffMax")
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
			}
			for _, s := range tc.wantText {
				assert.Contains(t, err.Error(), s)
			}
			for _, secret := range []string{"wrong-password", "right-password", "hunter2", "abc"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestHTTPChanged(t *testing.T) {
	data := testData(testSize)
	changed := append([]byte(nil), data...)
	changed[0] ^= 0xff

	t.Run("before Open", func(t *testing.T) {
		srv := sourcetest.NewServer(t, sourcetest.Config{Data: data})
		src, err := New(context.Background(), srv.URL, fastOptions())
		require.NoError(t, err)
		srv.SetData(changed)
		_, err = src.Open(context.Background(), 0, -1)
		require.ErrorIs(t, err, ErrChanged)
	})
	t.Run("during the download", func(t *testing.T) {
		srv := sourcetest.NewServer(t, sourcetest.Config{Data: data, Fault: sourcetest.Drop, FaultAfter: mib})
		src, err := New(context.Background(), srv.URL, fastOptions())
		require.NoError(t, err)
		rc, err := src.Open(context.Background(), 0, -1)
		require.NoError(t, err)
		defer rc.Close()
		_, err = io.ReadFull(rc, make([]byte, mib/2))
		require.NoError(t, err)
		srv.SetData(changed)
		_, err = io.ReadAll(rc)
		require.ErrorIs(t, err, ErrChanged)
		gets := srv.GETs()
		require.Len(t, gets, 3)
		assert.NotEmpty(t, gets[2].IfRange, "resume carries If-Range")
	})
}

// TestHTTPStallBeforeHeaders covers a server that accepts a request and
// never answers it: the attempt is cancelled and retried.
func TestHTTPStallBeforeHeaders(t *testing.T) {
	data := testData(100000)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "bytes=0-0" && n.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytesReader(data))
	}))
	t.Cleanup(srv.Close)
	src, err := New(context.Background(), srv.URL, fastOptions())
	require.NoError(t, err)
	got, err := readAll(t, src)
	require.NoError(t, err)
	require.True(t, string(data) == string(got))
	require.Equal(t, int32(2), n.Load())
}

func TestHTTPRetriesExhausted(t *testing.T) {
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: testData(testSize), Fault: sourcetest.Stall, FaultAfter: 0})
	opts := fastOptions()
	opts.StallTimeout = 50 * time.Millisecond
	opts.MaxRetries = 2
	src, err := New(context.Background(), srv.URL, opts)
	require.NoError(t, err)
	_, err = readAll(t, src)
	require.ErrorIs(t, err, ErrStalled)
	require.Contains(t, err.Error(), "giving up after 3 failed attempts")
	require.Len(t, srv.GETs(), 1+3)
}

func TestHTTPContextCancel(t *testing.T) {
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: testData(testSize), Fault: sourcetest.Stall, FaultAfter: mib})
	opts := fastOptions()
	opts.StallTimeout = time.Minute
	src, err := New(context.Background(), srv.URL, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rc, err := src.Open(ctx, 0, -1)
	require.NoError(t, err)
	_, err = io.ReadAll(rc)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, srv.GETs(), 2, "no retry after the caller gave up")
}
