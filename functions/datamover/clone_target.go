package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/clonestream"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source"
)

// errProbe is a connection closed before its TLS handshake began: the
// kubelet's TCP readiness probe, not a source.
var errProbe = errors.New("connection closed before the TLS handshake (a probe)")

// cloneTargetFlags are the settings of the clone-target command.
type cloneTargetFlags struct {
	listen         string
	target         string
	size           string
	credentialFile string
	tlsCert        string
	tlsKey         string
	stall          time.Duration
	idle           time.Duration
}

func (f *cloneTargetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", ":8443", "address to listen on for the clone source")
	fs.StringVar(&f.target, "target", "", "directory to write disk.img (or the tree) in, or a block device")
	fs.StringVar(&f.size, "size", "", "capacity of the target (bytes, or with a Ki/Mi/Gi/Ti or K/M/G/T suffix); disk.img is grown to it")
	fs.StringVar(&f.credentialFile, "credential-file", "", "file holding the clone's bearer credential, which the source must present")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "the clone's serving certificate (for its server name)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "key of --tls-cert")
	fs.DurationVar(&f.stall, "stall-timeout", source.DefaultStallTimeout, "how long a connection may move nothing before it is dropped (the source reconnects)")
	fs.DurationVar(&f.idle, "idle-timeout", 10*time.Minute, "how long to wait for a source to (re)connect before giving up (exit 3)")
}

// cloneTargetFlagSet is the clone-target command's flag set.
func cloneTargetFlagSet(f *cloneTargetFlags, rf *reportFlags, stderr io.Writer) *flag.FlagSet {
	return commandFlags("datamover clone-target", "datamover clone-target --target PATH --credential-file FILE --tls-cert FILE --tls-key FILE [flags]", stderr, f, rf)
}

// parseCloneTarget reads the clone-target flags from args and the
// environment.
func parseCloneTarget(args []string, getenv func(string) string, stderr io.Writer) (cloneTargetFlags, reportFlags, error) {
	var f cloneTargetFlags
	var rf reportFlags
	return f, rf, parseFlags(cloneTargetFlagSet(&f, &rf, stderr), args, getenv)
}

// cloneTargetConfig is what the flags mean.
type cloneTargetConfig struct {
	opts clonestream.TargetOptions
	tls  *tls.Config
}

func (f *cloneTargetFlags) config() (cloneTargetConfig, error) {
	var c cloneTargetConfig
	if f.target == "" {
		return c, fmt.Errorf("--target is required (or %s)", envName("target"))
	}
	if f.tlsCert == "" || f.tlsKey == "" {
		return c, errors.New("--tls-cert and --tls-key are required: the source authenticates the target by its certificate")
	}
	cred, err := readCredential(f.credentialFile, "credential-file")
	if err != nil {
		return c, err
	}
	cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	if err != nil {
		return c, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	c.opts = clonestream.TargetOptions{Path: f.target, Credential: cred}
	if f.size != "" {
		if c.opts.Capacity, err = parseSize(f.size); err != nil {
			return c, err
		}
	}
	if f.idle <= 0 {
		return c, fmt.Errorf("--idle-timeout %s: want a positive duration", f.idle)
	}
	c.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	return c, nil
}

// cloneTargetCommand receives one clone, then exits.
func cloneTargetCommand(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	f, rf, err := parseCloneTarget(args, getenv, stderr)
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
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return finishClone(ctx, rep, rf, &clonestream.TransportError{Err: fmt.Errorf("listen: %w", err)}, stderr, "")
	}
	fmt.Fprintf(stderr, "waiting for the clone source on %s\n", ln.Addr())
	var stop func()
	cfg.opts.Progress, stop = cloneProgress(ctx, rep, stderr)
	res, err := serveClone(ctx, ln, cfg, f.stall, f.idle, stderr)
	stop()
	done := ""
	if err == nil {
		done = fmt.Sprintf("cloned a %s of %s to %s: %s stored", res.Header.Kind, progress.Bytes(res.Header.Size), res.Path, progress.Bytes(res.Written))
	}
	return finishClone(ctx, rep, rf, err, stderr, done)
}

// serveClone accepts connections on ln until a clone is published or
// fails for good, or no source connects for idle. Connections that do not
// authenticate are dropped and change nothing.
func serveClone(ctx context.Context, ln net.Listener, cfg cloneTargetConfig, stall, idle time.Duration, stderr io.Writer) (clonestream.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tgt := clonestream.NewTarget(ctx, cfg.opts)
	defer tgt.Close()
	type outcome struct {
		res clonestream.Result
		err error
	}
	outcomes := make(chan outcome)
	conns := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- c:
			case <-ctx.Done():
				c.Close()
				return
			}
		}
	}()
	defer ln.Close()
	timer := time.NewTimer(idle)
	defer timer.Stop()
	active := 0
	for {
		select {
		case <-ctx.Done():
			return clonestream.Result{}, ctx.Err()
		case <-timer.C:
			return clonestream.Result{}, fmt.Errorf("%w for %s", errIdle, idle)
		case c := <-conns:
			active++
			timer.Stop()
			go func() {
				defer c.Close()
				defer context.AfterFunc(ctx, func() { c.Close() })()
				tc := tls.Server(clonestream.NewWire(c, stall), cfg.tls)
				hctx, hcancel := context.WithTimeout(ctx, stall)
				err := tc.HandshakeContext(hctx)
				hcancel()
				var res clonestream.Result
				switch {
				case err == nil:
					res, err = tgt.Serve(ctx, tc)
				case errors.Is(err, io.EOF):
					err = errProbe
				default:
					err = fmt.Errorf("%w: TLS handshake: %w", clonestream.ErrUnauthorized, err)
				}
				select {
				case outcomes <- outcome{res, err}:
				case <-ctx.Done():
				}
			}()
		case o := <-outcomes:
			if active--; active == 0 {
				timer.Reset(idle)
			}
			switch {
			case o.err == nil:
				return o.res, nil
			case errors.Is(o.err, errProbe):
				// Nothing to say.
			case errors.Is(o.err, clonestream.ErrUnauthorized):
				fmt.Fprintf(stderr, "warning: refused a connection: %s\n", oneLine(o.err))
			case clonestream.Retryable(o.err):
				fmt.Fprintf(stderr, "warning: the source's connection broke, waiting for it to reconnect: %s\n", oneLine(o.err))
			default:
				return clonestream.Result{}, o.err
			}
		}
	}
}
