package bench

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fileServers serves the fixture directory on loopback twice: /range/ is
// Go's http.FileServer (ranges, as a real web server or object store), and
// /norange/ answers every GET with the whole file and status 200, ignoring
// Range, like a naive server.
type fileServers struct {
	base string // http://127.0.0.1:PORT
}

// rangeURL is the URL of a fixture on the range-capable server.
func (s fileServers) rangeURL(name string) string { return s.base + "/range/" + name }

// noRangeURL is the URL of a fixture on the server without range support.
func (s fileServers) noRangeURL(name string) string { return s.base + "/norange/" + name }

// startServers serves dir in-process until the benchmark ends. The server's
// CPU time is the benchmark process's, so it is counted neither in ours'
// nor in the reference's rusage.
func startServers(b *testing.B, dir string) fileServers {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen on loopback: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/range/", http.StripPrefix("/range/", http.FileServer(http.Dir(dir))))
	mux.Handle("/norange/", http.StripPrefix("/norange/", noRangeHandler{dir: dir}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return fileServers{base: "http://" + ln.Addr().String()}
}

// noRangeHandler serves files from dir whole, whatever Range asks for.
type noRangeHandler struct{ dir string }

func (h noRangeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := filepath.Base(filepath.Clean("/" + r.URL.Path))
	f, err := os.Open(filepath.Join(h.dir, name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = io.Copy(w, f) // sendfile; the client may hang up early
	}
}
