package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// uploadOptions are the flags of cdictl upload.
type uploadOptions struct {
	namespace    string
	pvc          string
	image        string
	size         string
	storageClass string
	accessMode   string
	block        bool
	insecure     bool
	proxyURL     string
	noCreate     bool
	kubeconfig   string
	readyTimeout time.Duration
	doneTimeout  time.Duration
}

const usageText = `usage: cdictl upload --pvc NAME --image FILE [flags]

Uploads a disk image (raw, ISO, qcow2, compressed or not) into a claim:
creates the claim with cdi.kubevirt.io/storage.upload.target if missing,
waits for its upload pod, requests an upload token and uploads over the
resumable endpoint, resuming by itself, then waits for the import.
`

// parseUpload reads the upload command's flags.
func parseUpload(args []string, stderr io.Writer) (uploadOptions, error) {
	var o uploadOptions
	fs := flag.NewFlagSet("cdictl upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.namespace, "namespace", "", "namespace of the claim (default: the kubeconfig's)")
	fs.StringVar(&o.pvc, "pvc", "", "name of the claim to fill (required)")
	fs.StringVar(&o.image, "image", "", "path of the image to upload (required)")
	fs.StringVar(&o.size, "size", "", "size of a claim to create (default: the image's virtual size plus file system overhead)")
	fs.StringVar(&o.storageClass, "storage-class", "", "storage class of a claim to create")
	fs.StringVar(&o.accessMode, "access-mode", "ReadWriteOnce", "access mode of a claim to create")
	fs.BoolVar(&o.block, "block", false, "create the claim with volumeMode Block")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the upload proxy's certificate")
	fs.StringVar(&o.proxyURL, "uploadproxy-url", "", "URL of the upload proxy (default: Service cdi/cdi-uploadproxy's NodePort on a node's InternalIP)")
	fs.BoolVar(&o.noCreate, "no-create", false, "do not create the claim: it must exist")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 5*time.Minute, "how long to wait for the upload pod")
	fs.DurationVar(&o.doneTimeout, "done-timeout", 60*time.Minute, "how long to wait for the import after the upload")
	fs.Usage = func() { fmt.Fprint(stderr, usageText); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, o.validate()
}

// validate checks the options that need no cluster.
func (o uploadOptions) validate() error {
	switch {
	case o.pvc == "":
		return errors.New("--pvc is required")
	case o.image == "":
		return errors.New("--image is required")
	}
	switch corev1.PersistentVolumeAccessMode(o.accessMode) {
	case corev1.ReadWriteOnce, corev1.ReadWriteMany, corev1.ReadOnlyMany, corev1.ReadWriteOncePod:
	default:
		return fmt.Errorf("--access-mode %q: want ReadWriteOnce, ReadWriteMany, ReadOnlyMany or ReadWriteOncePod", o.accessMode)
	}
	return nil
}

// run executes the command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, "usage: cdictl upload [flags]   (cdictl upload -h for the flags)\n")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] != "upload" {
		fmt.Fprintf(stderr, "error: unknown command %q (cdictl upload -h)\n", args[0])
		return exitUsage
	}
	o, err := parseUpload(args[1:], stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if err := upload(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitFailed
	}
	return exitOK
}
