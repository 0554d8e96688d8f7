package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cdi-functions/cdi-functions/hack/cluster/addons/internal/provision"
)

// runProvision runs the local volume provisioner until the context ends.
func runProvision(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of a user allowed to manage PersistentVolumes")
	cfg := provision.Config{}
	fs.StringVar(&cfg.Name, "name", "local.cdi-functions.io/volume", "provisioner name the StorageClasses use")
	fs.StringVar(&cfg.Node, "node", "", "the node the volumes live on")
	fs.StringVar(&cfg.Dir, "dir", "", "host directory for volume data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || cfg.Node == "" || cfg.Dir == "" {
		return fmt.Errorf("-kubeconfig, -node and -dir are required")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	c := provision.New(cfg, client, factory, provision.Host{Dir: cfg.Dir})
	factory.Start(ctx.Done())
	log.Printf("provisioning %s volumes in %s on node %s", cfg.Name, cfg.Dir, cfg.Node)
	return c.Run(ctx)
}
