// Command xzcat decompresses xz data from standard input to standard output
// with package xz and names the implementation on standard error. The
// package's tests build it statically to check that liblzma links into a
// binary that needs no shared libraries.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cdi-functions/cdi-functions/pkg/image/xz"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xzcat:", err)
		os.Exit(1)
	}
}

// run copies the decompressed standard input to standard output.
func run() error {
	var opts xz.Options
	flag.IntVar(&opts.Threads, "threads", 0, "decoder threads (0: GOMAXPROCS)")
	flag.Uint64Var(&opts.MemLimit, "memlimit", 0, "decoder memory limit in bytes (0: the default)")
	flag.Parse()
	fmt.Fprintln(os.Stderr, xz.Implementation())
	r, err := xz.NewReader(os.Stdin, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(os.Stdout, r); err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	return r.Close()
}
