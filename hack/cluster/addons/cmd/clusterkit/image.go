package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/cdi-functions/cdi-functions/hack/cluster/addons/internal/image"
)

// addFlags collects repeated -add SRC:DST flags.
type addFlags []string

func (a *addFlags) String() string     { return strings.Join(*a, ",") }
func (a *addFlags) Set(v string) error { *a = append(*a, v); return nil }

// runImage builds a one-layer image from local files and pushes it, printing
// the digest reference on stdout.
func runImage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	ref := fs.String("ref", "", "where to push, e.g. 127.0.0.1:5001/cluster/pause:local")
	entrypoint := fs.String("entrypoint", "", "entrypoint (space separated); empty for a base image")
	user := fs.String("user", "", "user to run as")
	nonroot := fs.Bool("nonroot-base", false, "add a distroless-like nonroot user database, /tmp and CA bundle")
	var adds addFlags
	fs.Var(&adds, "add", "SRC:DST file to add (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" {
		return fmt.Errorf("-ref is required")
	}
	var spec image.Spec
	if *nonroot {
		spec.Entries = image.NonrootBase()
	}
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok {
			return fmt.Errorf("-add %q: want SRC:DST", a)
		}
		e, err := image.File(src, dst)
		if err != nil {
			return err
		}
		spec.Entries = append(spec.Entries, e)
	}
	if *entrypoint != "" {
		spec.Entrypoint = strings.Fields(*entrypoint)
	}
	spec.User = *user
	img, err := image.Build(spec)
	if err != nil {
		return err
	}
	d, err := image.Push(ctx, img, *ref)
	if err != nil {
		return err
	}
	fmt.Println(d.String())
	return nil
}
