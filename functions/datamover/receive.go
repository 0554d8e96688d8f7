package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/pipeline"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source"
	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// The receive command is the upload data pod's program (issue 8): it
// listens for one image, streamed to it by the upload proxy, and writes it
// to the target like an import. The upload proxy is its only client; it
// authenticates with a credential unique to this pod.
const (
	// receivePath is where the image is POSTed (or PUT).
	receivePath = "/upload"
	// headerContentType carries the claim's content type from the proxy
	// (CDI's x-cdi-content-type: kubevirt, the default, or archive).
	headerContentType = "X-Cdi-Content-Type"
	// busyRetryAfter is what a second client is told while an upload runs.
	busyRetryAfter = "5"
)

// receiveFlags are the settings of the receive command; each has an
// environment variable, as the import command's (envName).
type receiveFlags struct {
	listen         string
	target         string
	size           string
	scratch        string
	credentialFile string
	contentType    string
	tlsCert        string
	tlsKey         string
}

func (f *receiveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", ":8443", "address to listen on for the upload proxy")
	fs.StringVar(&f.target, "target", "", "directory to write disk.img in (or to extract into), or a block device")
	fs.StringVar(&f.size, "size", "", "capacity of the target (bytes, or with a Ki/Mi/Gi/Ti or K/M/G/T suffix)")
	fs.StringVar(&f.scratch, "scratch", "", "scratch directory for qcow2 images that arrive out of order")
	fs.StringVar(&f.contentType, "content-type", "kubevirt", "content type of uploads that do not name one in "+headerContentType+": kubevirt or archive (the claim's)")
	fs.StringVar(&f.credentialFile, "credential-file", "", "file holding the bearer credential the upload proxy presents (unique to this pod)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "certificate to serve HTTPS with (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "key of --tls-cert")
}

// receiver answers the upload proxy: one upload at a time; done is closed
// after the first that succeeds.
type receiver struct {
	credential []byte
	// contentType is the content type of uploads without the header.
	contentType pipeline.ContentType
	// id names the resumable upload: the claim's UID.
	id string
	// write imports body, of content type ct, into the target.
	write func(ctx context.Context, ct pipeline.ContentType, body io.Reader) (pipeline.Result, error)
	// importFile imports the spooled upload at path into the target.
	importFile func(ctx context.Context, ct pipeline.ContentType, path string) (pipeline.Result, error)
	// spool stores resumable and async uploads; nil without scratch space.
	spool *spool
	// base is the context processing runs in: it outlives the request
	// that completed the upload.
	base context.Context
	// progress receives the bytes stored and the import's progress.
	progress progress.Reporter

	slot slot
	ok   atomic.Bool
	done chan struct{}
	// fatal receives the failure of an async upload: nobody waits for an
	// answer, so the command reports it and exits.
	fatal chan error

	mu      sync.Mutex
	outcome uploadOutcome
}

// uploadOutcome is what became of the last upload processed from the spool.
type uploadOutcome struct {
	state   string
	code    int
	message string
}

func newReceiver(credential []byte, write func(context.Context, pipeline.ContentType, io.Reader) (pipeline.Result, error)) *receiver {
	return &receiver{credential: credential, contentType: pipeline.KubeVirt, id: "upload", write: write, base: context.Background(), progress: progress.Discard{},
		done: make(chan struct{}), fatal: make(chan error, 1)}
}

// requestContentType is the content type an upload names in
// headerContentType, or the claim's when it names none.
func (rc *receiver) requestContentType(r *http.Request) (pipeline.ContentType, error) {
	h := strings.ToLower(strings.TrimSpace(r.Header.Get(headerContentType)))
	if h == "" {
		return rc.contentType, nil
	}
	ct, err := pipeline.ParseContentType(h)
	if err != nil {
		return "", fmt.Errorf("%s: %w", headerContentType, err)
	}
	return ct, nil
}

// Paths the receiver serves.
const (
	// asyncPath takes the whole image, stores it and answers; the import
	// runs after the answer.
	asyncPath = "/upload-async"
	// tusPath is where resumable uploads are created; tusPath/ID is the
	// upload.
	tusPath = "/tus"
)

// ServeHTTP implements http.Handler. Answers, all plain text: 200 stored;
// 400 not an image this system takes (the reason); 401 no or a wrong
// credential; 404/405 anything but the receiver's paths and methods; 409
// already stored; 413 larger than the target; 503 another upload runs, or
// this one broke off (the proxy may retry). asyncPath answers 200 once the
// bytes are stored; tusPath speaks tus (tus.go).
func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	tusReq := r.URL.Path == tusPath || strings.HasPrefix(r.URL.Path, tusPath+"/")
	if r.URL.Path != receivePath && r.URL.Path != asyncPath && !tusReq {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if !tusReq && r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !rc.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cdi-upload-pod"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if tusReq {
		rc.serveTus(w, r)
		return
	}
	ct, err := rc.requestContentType(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h, ok := rc.slot.tryAcquire(nil)
	if !ok {
		w.Header().Set("Retry-After", busyRetryAfter)
		http.Error(w, "another upload into this claim is in progress", http.StatusServiceUnavailable)
		return
	}
	// Checked while holding the slot: an upload that succeeded just before
	// cannot be followed by a second one (nor done closed twice).
	if rc.ok.Load() {
		rc.slot.release(h)
		http.Error(w, "the image is already uploaded", http.StatusConflict)
		return
	}
	if r.URL.Path == asyncPath {
		rc.serveAsync(w, r, h, ct)
		return
	}
	defer rc.slot.release(h)
	res, err := rc.write(r.Context(), ct, r.Body)
	if err != nil {
		code := statusFor(r.Context(), err)
		http.Error(w, oneLine(err), code)
		return
	}
	rc.succeeded()
	fmt.Fprintf(w, "uploaded %s: %s, %s stored\n", layerList(res), progress.Bytes(res.Size), progress.Bytes(res.Written))
}

// succeeded marks the claim filled and ends the command. Called while
// holding the slot, once.
func (rc *receiver) succeeded() {
	rc.ok.Store(true)
	close(rc.done)
}

// authenticated compares the bearer credential in constant time.
func (rc *receiver) authenticated(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && len(rc.credential) > 0 && subtle.ConstantTimeCompare([]byte(got), rc.credential) == 1
}

// statusFor maps an upload's failure to its answer.
func statusFor(ctx context.Context, err error) int {
	switch {
	case errors.Is(err, target.ErrCapacity):
		return http.StatusRequestEntityTooLarge
	case ctx.Err() != nil, source.Retryable(err), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// receiveCommand serves until one upload succeeded (exit 0) or ctx ends.
func receiveCommand(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	f, rf, err := parseReceive(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	srv, rc, err := f.server(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	rep, err := newReporter(rf, reason.UploadOutcomes, getenv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if rf.claimUID != "" {
		rc.id = rf.claimUID
	}
	rc.base = ctx
	if rep != nil {
		var stop func()
		rc.progress, stop = rep.progress(ctx)
		defer stop()
	}
	rc.resume()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		fmt.Fprintf(stderr, "error: listen: %v\n", err)
		return exitRetryable
	}
	fmt.Fprintf(stderr, "waiting for an upload on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() {
		if f.tlsCert != "" {
			errc <- srv.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	var final error
	select {
	case <-rc.done:
	case final = <-rc.fatal:
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintf(stderr, "error: serve: %v\n", err)
		return exitRetryable
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if final != nil {
		fmt.Fprintf(stderr, "error: %s\n", oneLine(final))
		writeTerminationLog(rf.terminationLog, final)
		if rep != nil {
			rep.result(ctx, final)
		}
		return exitCodeFor(final)
	}
	if !rc.ok.Load() {
		return exitRetryable
	}
	if rep != nil {
		rep.result(ctx, nil)
	}
	return exitOK
}

// parseReceive reads the receive command's flags from args and, for those
// not given there, the environment (as parseImport).
func parseReceive(args []string, getenv func(string) string, stderr io.Writer) (receiveFlags, reportFlags, error) {
	var f receiveFlags
	var rf reportFlags
	return f, rf, parseFlags(receiveFlagSet(&f, &rf, stderr), args, getenv)
}

// receiveFlagSet is the receive command's flag set, filling f and rf.
func receiveFlagSet(f *receiveFlags, rf *reportFlags, stderr io.Writer) *flag.FlagSet {
	return commandFlags("datamover receive", "datamover receive --target PATH --credential-file FILE [flags]", stderr, f, rf)
}

// server validates the flags into the HTTP server and its receiver.
func (f *receiveFlags) server(stderr io.Writer) (*http.Server, *receiver, error) {
	if f.target == "" {
		return nil, nil, fmt.Errorf("--target is required (or %s)", envName("target"))
	}
	if f.credentialFile == "" {
		return nil, nil, fmt.Errorf("--credential-file is required (or %s): the upload proxy must authenticate", envName("credential-file"))
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, nil, errors.New("--tls-cert and --tls-key go together")
	}
	cred, err := os.ReadFile(f.credentialFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read the credential: %w", err)
	}
	cred = []byte(strings.TrimSpace(string(cred)))
	if len(cred) < 16 {
		return nil, nil, fmt.Errorf("the credential in %s is shorter than 16 bytes", f.credentialFile)
	}
	base := pipeline.Request{Target: f.target, Scratch: f.scratch}
	if f.size != "" {
		if base.Size, err = parseSize(f.size); err != nil {
			return nil, nil, err
		}
	}
	var rc *receiver
	run := func(ctx context.Context, ct pipeline.ContentType, name string, opts source.Options) (pipeline.Result, error) {
		src, err := source.New(ctx, name, opts)
		if err != nil {
			return pipeline.Result{}, err
		}
		if c, ok := src.(io.Closer); ok {
			defer c.Close()
		}
		req := base
		req.ContentType, req.Source, req.Progress = ct, src, rc.progress
		return pipeline.Run(ctx, req)
	}
	rc = newReceiver(cred, func(ctx context.Context, ct pipeline.ContentType, body io.Reader) (pipeline.Result, error) {
		return run(ctx, ct, "-", source.Options{Stdin: body})
	})
	rc.importFile = func(ctx context.Context, ct pipeline.ContentType, path string) (pipeline.Result, error) {
		return run(ctx, ct, path, source.Options{})
	}
	if rc.contentType, err = pipeline.ParseContentType(strings.ToLower(strings.TrimSpace(f.contentType))); err != nil {
		return nil, nil, fmt.Errorf("--content-type: %w", err)
	}
	rc.progress = progress.NewLine(stderr, 2*time.Second)
	if f.scratch != "" {
		if rc.spool, err = openSpool(f.scratch, spoolBound(base.Size)); err != nil {
			return nil, nil, err
		}
	}
	return &http.Server{Handler: rc, ReadHeaderTimeout: 30 * time.Second}, rc, nil
}

// spoolBound is the most an upload into a target of size bytes may
// store: a little more than size, since a fully allocated qcow2 is larger
// than its disk by its tables. 0: no bound.
func spoolBound(size int64) int64 {
	if size <= 0 {
		return 0
	}
	return size + size/64 + 16<<20
}
