package source

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
)

// readBufferSize is the transport's socket read buffer. Large reads from a
// body bypass it, so it only needs to hold headers and small bodies well.
const readBufferSize = 256 << 10

// loadCertPool returns the system pool plus every PEM certificate found in
// the regular files of dir (nil pool, meaning "system", when dir is empty).
// Kubernetes' "..data" indirections and hidden files are skipped.
func loadCertPool(dir string) (*x509.CertPool, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read cert dir: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	added := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // follows the symlinks of a mounted ConfigMap
		if err != nil {
			return nil, fmt.Errorf("stat cert file: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read cert file: %w", err)
		}
		if pool.AppendCertsFromPEM(pem) {
			added++
		}
	}
	if added == 0 {
		return nil, fmt.Errorf("cert dir %q holds no PEM certificate", dir)
	}
	return pool, nil
}

// newTransport builds the HTTP transport shared by the HTTP and S3
// sources: proxies from the environment, the cert dir's CAs, HTTP/1.1 (one
// TCP stream per transfer is faster than HTTP/2 multiplexing for bulk data),
// no transparent compression (it would break lengths and ranges), and the
// egress policy checking every address the dialer connects to, before it
// connects.
func newTransport(certDir string, pol *egress.Policy) (*http.Transport, error) {
	pool, err := loadCertPool(certDir)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: pol.Control}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   30 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ReadBufferSize:        readBufferSize,
		WriteBufferSize:       64 << 10,
	}, nil
}

// tlsError reports whether err is a certificate or TLS handshake failure.
func tlsError(err error) bool {
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert)
}

// tlsHint is appended to TLS failures to point at the likely fix.
func tlsHint(certDir string) string {
	if certDir == "" {
		return "no cert dir is configured; supply the server's CA bundle in a cert dir"
	}
	return fmt.Sprintf("is the server's CA among the certificates of cert dir %q?", certDir)
}
