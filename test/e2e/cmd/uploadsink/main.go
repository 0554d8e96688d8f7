// Command uploadsink is the reference of make bench-upload: a plain HTTP
// server in a pod that stores each request's body in a file on a claim,
// the least an upload can do over the same network path as the upload
// proxy. The bench builds its image with ko from this repository.
//
//	uploadsink ADDR DIR
//
// POST or PUT /plain writes the body to DIR/disk.img, every byte; /sparse
// leaves all-zero blocks of 64 KiB as holes (as the data mover writes
// disk.img, so both store the same bytes). Either fsyncs the file before
// answering 200 with "stored N bytes, W written in S s". GET /healthz
// answers ok.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// blockSize is the unit of zero detection and of each read.
const blockSize = 64 << 10

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: uploadsink ADDR DIR")
		os.Exit(2)
	}
	srv := &http.Server{Addr: os.Args[1], Handler: handler(os.Args[2]), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("uploadsink: serving on %s, storing in %s\n", os.Args[1], os.Args[2])
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "uploadsink:", err)
		os.Exit(1)
	}
}

func handler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	for _, mode := range []string{"plain", "sparse"} {
		h := func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			n, written, err := store(filepath.Join(dir, "disk.img"), r.Body, mode == "sparse")
			if err == nil && r.ContentLength >= 0 && n != r.ContentLength {
				err = fmt.Errorf("the body ended after %d of %d bytes", n, r.ContentLength)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "stored %d bytes, %d written in %.3f s\n", n, written, time.Since(start).Seconds())
		}
		mux.HandleFunc("POST /"+mode, h)
		mux.HandleFunc("PUT /"+mode, h)
	}
	return mux
}

// store copies body to path, skipping all-zero blocks when sparse, and
// fsyncs it; it returns the body's length and the bytes written.
func store(path string, body io.Reader, sparse bool) (n, written int64, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, 0, fmt.Errorf("create %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	zero := make([]byte, blockSize)
	buf := make([]byte, blockSize)
	for {
		m, rerr := io.ReadFull(body, buf)
		if m > 0 {
			if sparse && bytes.Equal(buf[:m], zero[:m]) {
				n += int64(m)
			} else {
				if _, err := f.WriteAt(buf[:m], n); err != nil {
					return n, written, fmt.Errorf("write %s: %w", path, err)
				}
				n += int64(m)
				written += int64(m)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return n, written, fmt.Errorf("read the body: %w", rerr)
		}
	}
	if err := f.Truncate(n); err != nil {
		return n, written, fmt.Errorf("truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return n, written, fmt.Errorf("fsync %s: %w", path, err)
	}
	return n, written, nil
}
