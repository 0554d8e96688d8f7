package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/clonestream"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source"
)

// cloneSourceFlags are the settings of the clone-source command.
type cloneSourceFlags struct {
	source         string
	contentType    string
	targetAddress  string
	credentialFile string
	tlsCA          string
	tlsServerName  string
	compress       string
	maxRetries     int
	stall          time.Duration
}

func (f *cloneSourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.source, "source", "", "the source claim: a directory (holding disk.img, or a tree) or a block device; only read")
	fs.StringVar(&f.contentType, "content-type", annotations.ContentTypeKubeVirt, "kubevirt (send disk.img) or archive (send the whole tree), the source claim's")
	fs.StringVar(&f.targetAddress, "target-address", "", "host:port of the clone target data pod")
	fs.StringVar(&f.credentialFile, "credential-file", "", "file holding the clone's bearer credential")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM certificate of the authority the target's certificate must chain to")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "the name the target's certificate must be for (the clone's)")
	fs.StringVar(&f.compress, "compress", string(clonestream.CompressAuto), "auto (zstd while the network holds the transfer back), zstd or none")
	fs.IntVar(&f.maxRetries, "max-retries", source.DefaultMaxRetries, "consecutive failed connections without progress before giving up (exit 3)")
	fs.DurationVar(&f.stall, "stall-timeout", source.DefaultStallTimeout, "how long a connection may move nothing before it is dropped and made again")
}

// cloneSourceFlagSet is the clone-source command's flag set.
func cloneSourceFlagSet(f *cloneSourceFlags, rf *reportFlags, stderr io.Writer) *flag.FlagSet {
	return commandFlags("datamover clone-source", "datamover clone-source --source PATH --target-address HOST:PORT --credential-file FILE --tls-ca FILE --tls-server-name NAME [flags]", stderr, f, rf)
}

// parseCloneSource reads the clone-source flags from args and the
// environment.
func parseCloneSource(args []string, getenv func(string) string, stderr io.Writer) (cloneSourceFlags, reportFlags, error) {
	var f cloneSourceFlags
	var rf reportFlags
	return f, rf, parseFlags(cloneSourceFlagSet(&f, &rf, stderr), args, getenv)
}

// cloneSourceConfig is what the flags mean.
type cloneSourceConfig struct {
	opts clonestream.SourceOptions
	tls  *tls.Config
}

func (f *cloneSourceFlags) config() (cloneSourceConfig, error) {
	var c cloneSourceConfig
	switch {
	case f.source == "":
		return c, fmt.Errorf("--source is required (or %s)", envName("source"))
	case f.targetAddress == "":
		return c, fmt.Errorf("--target-address is required (or %s)", envName("target-address"))
	case f.tlsCA == "" || f.tlsServerName == "":
		return c, errors.New("--tls-ca and --tls-server-name are required: the target must prove it is the clone's")
	case f.maxRetries < 0:
		return c, fmt.Errorf("--max-retries %d: want 0 or more", f.maxRetries)
	}
	if _, _, err := net.SplitHostPort(f.targetAddress); err != nil {
		return c, fmt.Errorf("--target-address %q: %w", f.targetAddress, err)
	}
	cred, err := readCredential(f.credentialFile, "credential-file")
	if err != nil {
		return c, err
	}
	comp, err := clonestream.ParseCompression(f.compress)
	if err != nil {
		return c, fmt.Errorf("--compress: %w", err)
	}
	var tree bool
	switch f.contentType {
	case annotations.ContentTypeKubeVirt:
	case annotations.ContentTypeArchive:
		tree = true
	default:
		return c, fmt.Errorf("--content-type %q: want %s or %s", f.contentType, annotations.ContentTypeKubeVirt, annotations.ContentTypeArchive)
	}
	ca, err := os.ReadFile(f.tlsCA)
	if err != nil {
		return c, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return c, fmt.Errorf("--tls-ca %s: no PEM certificate", f.tlsCA)
	}
	c.opts = clonestream.SourceOptions{Path: f.source, Tree: tree, Credential: cred, Compression: comp}
	c.tls = &tls.Config{RootCAs: pool, ServerName: f.tlsServerName, MinVersion: tls.VersionTLS13}
	return c, nil
}

// cloneSourceCommand sends the source claim to the clone target.
func cloneSourceCommand(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	f, rf, err := parseCloneSource(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	cfg, err := f.config()
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	rep, err := newReporter(rf, reason.CloneOutcomes, getenv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	var stop func()
	cfg.opts.Progress, stop = cloneProgress(ctx, rep, stderr)
	src, err := clonestream.OpenSource(cfg.opts)
	if err != nil {
		stop()
		return finishClone(ctx, rep, rf, err, stderr, "")
	}
	defer src.Close()
	wire, err := sendClone(ctx, src, f.targetAddress, cfg.tls, f.stall, f.maxRetries, stderr)
	stop()
	done := ""
	if err == nil {
		st, h := src.Stats(), src.Header()
		done = fmt.Sprintf("cloned a %s of %s to %s: %s of data sent as %s, %s on the wire (%d extents compressed), resumed at %s",
			h.Kind, progress.Bytes(h.Size), f.targetAddress, progress.Bytes(st.Data), progress.Bytes(st.Payload),
			progress.Bytes(wire), st.Compressed, progress.Bytes(st.Resumed))
	}
	return finishClone(ctx, rep, rf, err, stderr, done)
}

// sendClone connects to the target and sends, again over a new
// connection after one breaks (resuming where the target is), until the
// target published the clone or refused it, or maxRetries connections in
// a row made no progress. It returns the bytes written to the wire.
func sendClone(ctx context.Context, src *clonestream.Source, addr string, cfg *tls.Config, stall time.Duration, maxRetries int,
	stderr io.Writer) (int64, error) {
	var wired int64
	failures := 0
	for {
		before := src.Stats().Data
		n, err := sendOnce(ctx, src, addr, cfg, stall)
		wired += n
		if err == nil || !clonestream.Retryable(err) {
			return wired, err
		}
		if src.Stats().Data > before {
			failures = 0
		}
		if failures++; failures > maxRetries {
			return wired, fmt.Errorf("%w (%d): %w", errRetriesExhausted, maxRetries, err)
		}
		delay := reconnectDelay(failures)
		fmt.Fprintf(stderr, "warning: %s; connecting again in %s\n", oneLine(err), delay)
		select {
		case <-ctx.Done():
			return wired, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// reconnectDelay is the wait before the next connection after failures
// in a row without progress: 100 ms, doubling, at most 15 s. It starts
// short because the source pod usually starts with the target pod and
// dials it before it listens; 8 failures wait 25 s in all.
func reconnectDelay(failures int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < failures && d < 15*time.Second; i++ {
		d *= 2
	}
	return min(d, 15*time.Second)
}

// sendOnce sends over one connection; every failure to connect counts as
// a broken connection (the target may not be ready yet).
func sendOnce(ctx context.Context, src *clonestream.Source, addr string, cfg *tls.Config, stall time.Duration) (int64, error) {
	d := net.Dialer{Timeout: stall}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, &clonestream.TransportError{Err: err}
	}
	defer c.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	wire := clonestream.NewWire(c, stall)
	tc := tls.Client(wire, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return wire.Written(), &clonestream.TransportError{Err: fmt.Errorf("TLS handshake with %s: %w", addr, err)}
	}
	err = src.Send(ctx, tc, wire)
	return wire.Written(), err
}
