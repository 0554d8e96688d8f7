package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/checksum"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/pipeline"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/redact"
	"github.com/cdi-functions/cdi-functions/pkg/source"
)

// importFlags are the settings of the import command. Each flag has an
// environment variable (envPrefix + the flag name in upper case, dashes as
// underscores); a flag given on the command line wins.
type importFlags struct {
	source      string
	target      string
	contentType string
	size        string
	secretDir   string
	certDir     string
	s3Endpoint  string
	scratch     string
	checksum    string
	maxRetries  int
	stall       time.Duration
	minRate     string
	rateWindow  time.Duration
	deadline    time.Duration
	egressDeny  string
	egressAllow string
}

// envPrefix starts the name of every environment variable the data mover
// reads: --secret-dir is DATAMOVER_SECRET_DIR.
const envPrefix = "DATAMOVER_"

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *importFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.source, "source", "", "image URL: http(s)://…, s3://bucket/key, a file path, or - for standard input")
	fs.StringVar(&f.target, "target", "", "directory to write disk.img in (or to extract into), or a block device")
	fs.StringVar(&f.contentType, "content-type", "kubevirt", "kubevirt (one disk image) or archive (a tar extracted into the target)")
	fs.StringVar(&f.size, "size", "", "capacity of the target (bytes, or with a Ki/Mi/Gi/Ti or K/M/G/T suffix); disk.img is grown to it")
	fs.StringVar(&f.secretDir, "secret-dir", "", "directory with files accessKeyId and secretKey (basic auth or S3 keys)")
	fs.StringVar(&f.certDir, "cert-dir", "", "directory of PEM CA certificates to trust for HTTPS and S3")
	fs.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3 endpoint URL for non-AWS stores, e.g. http://minio.example:9000")
	fs.StringVar(&f.scratch, "scratch", "", "scratch directory for qcow2 images that cannot be read in place")
	fs.StringVar(&f.checksum, "checksum", "", "expected digest of the source bytes, ALG:HEX with ALG md5, sha1, sha256 or sha512")
	fs.IntVar(&f.maxRetries, "max-retries", source.DefaultMaxRetries, "consecutive failed attempts without progress before a transfer gives up")
	fs.DurationVar(&f.stall, "stall-timeout", source.DefaultStallTimeout, "how long a transfer may receive nothing before it is resumed")
	fs.StringVar(&f.minRate, "min-rate", "10Ki", "slowest tolerated transfer, bytes per second over --min-rate-window (a quantity such as 10Ki; 0: no minimum)")
	fs.DurationVar(&f.rateWindow, "min-rate-window", source.DefaultMinRateWindow, "the span the minimum rate is averaged over")
	fs.DurationVar(&f.deadline, "deadline", source.DefaultDeadline, "bound of the whole download (0: none)")
	fs.StringVar(&f.egressDeny, "egress-deny", "", "CIDRs or addresses (comma- or space-separated) not to connect to, on top of loopback, link-local and cloud metadata")
	fs.StringVar(&f.egressAllow, "egress-allow", "", "CIDRs or addresses to connect to even if denied; loopback, link-local or metadata only when listed inside those ranges")
}

// fromEnv sets every flag not given on the command line from its
// environment variable.
func fromEnv(fs *flag.FlagSet, given map[string]bool, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if given[fl.Name] || err != nil {
			return
		}
		if v := getenv(envName(fl.Name)); v != "" {
			if serr := fl.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s: %w", envName(fl.Name), serr)
			}
		}
	})
	return err
}

// importFlagSet is the import command's flag set, filling f and rf.
func importFlagSet(f *importFlags, rf *reportFlags, stderr io.Writer) *flag.FlagSet {
	return commandFlags("datamover import", "datamover import --source URL --target PATH [flags]", stderr, f, rf)
}

// commandFlags is the flag set of the command name with the flags of
// parts; its usage prints usage, then every flag with its environment
// variable.
func commandFlags(name, usage string, stderr io.Writer, parts ...registrar) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, p := range parts {
		p.register(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags (environment variable in brackets):\n", usage)
		fs.VisitAll(func(fl *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s [%s]\n    \t%s\n", fl.Name, envName(fl.Name), fl.Usage)
		})
	}
	return fs
}

// registrar is a command's group of flags (its own, the report flags).
type registrar interface{ register(*flag.FlagSet) }

// parseImport reads the import command's flags from args and, for those
// not given there, the environment. flag.ErrHelp means help was asked for.
func parseImport(args []string, getenv func(string) string, stderr io.Writer) (importFlags, reportFlags, error) {
	var f importFlags
	var rf reportFlags
	return f, rf, parseFlags(importFlagSet(&f, &rf, stderr), args, getenv)
}

// parseFlags parses args into fs, then sets the flags not given there from
// the environment (fromEnv).
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	return fromEnv(fs, given, getenv)
}

func importCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) int {
	f, rf, err := parseImport(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		// After the flag package's usage, if it refused: the last line
		// is the error.
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	req, err := f.request(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	opts, err := f.sourceOptions(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	rep, err := newReporter(rf, reason.ImportOutcomes, getenv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	var stopProgress func()
	if rep != nil {
		req.Progress, stopProgress = rep.progress(ctx)
	}
	res, err := f.run(ctx, req, opts)
	if stopProgress != nil {
		stopProgress()
	}
	if rep != nil {
		rep.result(ctx, err)
	}
	if err != nil {
		writeTerminationLog(rf.terminationLog, err)
		fmt.Fprintf(stderr, "error: %s\n", oneLine(err))
		return exitCodeFor(err)
	}
	// Redacted: the URL may carry a signature in its query.
	fmt.Fprintf(stderr, "imported %s (%s) to %s: %s, %s stored\n",
		redact.String(f.source), layerList(res), res.Path, progress.Bytes(res.Size), progress.Bytes(res.Written))
	return exitOK
}

// sourceOptions validates the source settings into source.Options: the
// egress policy (datapod.EgressPolicy of --egress-deny and --egress-allow),
// the minimum rate and the deadline.
func (f *importFlags) sourceOptions(stdin io.Reader) (source.Options, error) {
	pol, err := datapod.EgressPolicy(f.egressDeny, f.egressAllow)
	if err != nil {
		return source.Options{}, err
	}
	opts := source.Options{
		SecretDir: f.secretDir, CertDir: f.certDir, S3Endpoint: f.s3Endpoint, Stdin: stdin,
		MaxRetries: f.maxRetries, StallTimeout: f.stall, Egress: pol,
		MinRateWindow: f.rateWindow, Deadline: f.deadline,
	}
	switch f.minRate {
	case "0":
		opts.MinRate = -1
	default:
		if opts.MinRate, err = parseSize(f.minRate); err != nil {
			return source.Options{}, fmt.Errorf("--min-rate: %w", err)
		}
	}
	if f.rateWindow <= 0 {
		return source.Options{}, fmt.Errorf("--min-rate-window %s: want a positive duration", f.rateWindow)
	}
	switch {
	case f.deadline < 0:
		return source.Options{}, fmt.Errorf("--deadline %s: want a positive duration, or 0 for none", f.deadline)
	case f.deadline == 0:
		opts.Deadline = -1
	}
	return opts, nil
}

// run opens the source and runs the import.
func (f *importFlags) run(ctx context.Context, req pipeline.Request, opts source.Options) (pipeline.Result, error) {
	src, err := source.New(ctx, f.source, opts)
	if err != nil {
		return pipeline.Result{}, err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	req.Source = src
	return pipeline.Run(ctx, req)
}

// request validates the flags into a pipeline request (without its source).
func (f *importFlags) request(stderr io.Writer) (pipeline.Request, error) {
	if f.source == "" {
		return pipeline.Request{}, fmt.Errorf("--source is required (or %s)", envName("source"))
	}
	if f.target == "" {
		return pipeline.Request{}, fmt.Errorf("--target is required (or %s)", envName("target"))
	}
	ct, err := pipeline.ParseContentType(f.contentType)
	if err != nil {
		return pipeline.Request{}, err
	}
	req := pipeline.Request{
		Target:      f.target,
		ContentType: ct,
		Scratch:     f.scratch,
		Progress:    progress.NewLine(stderr, 2*time.Second),
	}
	if f.size != "" {
		if req.Size, err = parseSize(f.size); err != nil {
			return pipeline.Request{}, err
		}
	}
	if f.checksum != "" {
		spec, err := checksum.Parse(f.checksum)
		if err != nil {
			return pipeline.Request{}, err
		}
		req.Checksum = &spec
	}
	if f.scratch != "" {
		if fi, err := os.Stat(f.scratch); err != nil || !fi.IsDir() {
			return pipeline.Request{}, fmt.Errorf("--scratch %s: not a directory", f.scratch)
		}
	}
	return req, nil
}

func layerList(res pipeline.Result) string {
	s := make([]string, len(res.Layers))
	for i, l := range res.Layers {
		s[i] = string(l)
	}
	return strings.Join(s, " > ")
}

// oneLine flattens an error message to one line, as the pod's termination
// message and the claim's annotations want it.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
