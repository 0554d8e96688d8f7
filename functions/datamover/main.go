// Command datamover is the program of the data pods: it moves image bytes
// into a volume. Its import command reads an image from HTTP(S), S3, a file
// or standard input, decodes it and writes a raw disk image (or an
// extracted archive) to the target.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes: the data pod contract's (pkg/datapod), which the event
// source reads from the pod's status. A usage error is a configuration
// error: permanent, like exitError.
const (
	exitOK        = datapod.ExitOK
	exitError     = datapod.ExitPermanent
	exitUsage     = datapod.ExitUsage
	exitRetryable = datapod.ExitRetryable
)

func usage() string {
	return `usage: datamover <command> [flags]

commands:
  import   read an image from --source and write it to --target
  receive  wait for one image uploaded over HTTP(S) and write it to --target
  clone-source  send a claim (disk.img, a tree or a block device) to a clone target
  clone-target  receive one clone and publish it once verified

Run 'datamover import -h' for the flags of a command.
`
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	switch args[0] {
	case "import":
		return importCommand(ctx, args[1:], getenv, stdin, stderr)
	case "receive":
		return receiveCommand(ctx, args[1:], getenv, stderr)
	case "clone-source":
		return cloneSourceCommand(ctx, args[1:], getenv, stderr)
	case "clone-target":
		return cloneTargetCommand(ctx, args[1:], getenv, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage())
		return exitOK
	}
	fmt.Fprintf(stderr, "error: unknown command %q\n%s", args[0], usage())
	return exitUsage
}
