package sourcetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// VersityGWInstall is the command that installs the S3 server StartS3 runs.
const VersityGWInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Root credentials of the gateways StartS3 starts.
const (
	S3AccessKey = "sourcetest-access"
	S3SecretKey = "sourcetest-secret-key-0123456789"
)

// S3 is a running versitygw S3 gateway over a temp dir.
type S3 struct {
	// Endpoint is the gateway's URL, for source.Options.S3Endpoint.
	Endpoint string
	// Client is a minio-go client with the root credentials.
	Client *minio.Client
}

// FindVersityGW returns the path of the versitygw binary: on PATH, or in
// the first GOPATH's bin.
func FindVersityGW() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gp, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("versitygw is neither on PATH nor in $(go env GOPATH)/bin")
}

// StartS3 starts versitygw on a free port of 127.0.0.1 and stops it when
// the test ends. Without the binary the test is skipped, except under
// CI=true, where it fails.
func StartS3(tb testing.TB) *S3 {
	tb.Helper()
	return StartS3At(tb, "127.0.0.1")
}

// StartS3At is StartS3 listening on host (an address of this machine, such
// as a local cluster's bridge gateway, where its pods can reach it).
func StartS3At(tb testing.TB, host string) *S3 {
	tb.Helper()
	bin, err := FindVersityGW()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v; CI must install it: %s", err, VersityGWInstall)
		}
		tb.Skipf("%v; install it with: %s", err, VersityGWInstall)
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and start
		s3, err := startS3(tb, bin, host)
		if err == nil {
			return s3
		}
		lastErr = err
	}
	tb.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func startS3(tb testing.TB, bin, host string) (*S3, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()

	root := tb.TempDir()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+S3AccessKey, "ROOT_SECRET_KEY="+S3SecretKey)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	endpoint := "http://" + addr
	client, err := minio.New(addr, &minio.Options{
		Creds:        credentials.NewStaticV4(S3AccessKey, S3SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		stop()
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = client.ListBuckets(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("versitygw exited (%v): %s", werr, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw not ready at %s: %w", endpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Cleanup(stop)
	return &S3{Endpoint: endpoint, Client: client}, nil
}

// Put stores data as bucket/key, making the bucket if needed.
func (s *S3) Put(tb testing.TB, bucket, key string, data []byte) {
	tb.Helper()
	ctx := context.Background()
	exists, err := s.Client.BucketExists(ctx, bucket)
	if err != nil {
		tb.Fatalf("bucket exists %s: %v", bucket, err)
	}
	if !exists {
		if err := s.Client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			tb.Fatalf("make bucket %s: %v", bucket, err)
		}
	}
	if _, err := s.Client.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		tb.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// SecretDir writes the gateway's root credentials as a credentials Secret.
func (s *S3) SecretDir(tb testing.TB) string {
	tb.Helper()
	return WriteSecretDir(tb, S3AccessKey, S3SecretKey)
}

// Proxy returns a reverse proxy to the gateway that keeps the client's
// Host header (S3 signatures cover it). Put it in Config.Handler to inject
// faults between an S3 client and the gateway.
func (s *S3) Proxy() http.Handler {
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		panic(err) // Endpoint is ours and well formed
	}
	p := httputil.NewSingleHostReverseProxy(target)
	p.ErrorLog = log.New(io.Discard, "", 0)
	return p
}
