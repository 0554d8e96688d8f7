// Command clusterkit does the parts of the local cluster's setup that are
// awkward in shell: issuing its PKI and kubeconfigs, building offline images
// and serving the loopback registry. hack/cluster/up.sh drives it.
//
//	clusterkit pki      -dir DIR -node-name NAME -node-ip IP -service-ip IP
//	clusterkit image    -ref 127.0.0.1:5001/cluster/pause:local -add SRC:DST -entrypoint /pause
//	clusterkit registry -addr 127.0.0.1:5001 -dir DIR
//	clusterkit provision -kubeconfig FILE -node NAME -dir DIR
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// commands maps each subcommand to its implementation.
var commands = map[string]func(ctx context.Context, args []string) error{
	"pki":       runPKI,
	"image":     runImage,
	"registry":  runRegistry,
	"provision": runProvision,
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: clusterkit pki|image|registry|provision [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := commands[os.Args[1]](ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "clusterkit %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
