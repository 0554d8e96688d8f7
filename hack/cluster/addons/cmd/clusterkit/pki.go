package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cdi-functions/cdi-functions/hack/cluster/addons/internal/kubeconfig"
	"github.com/cdi-functions/cdi-functions/hack/cluster/addons/internal/pki"
)

// component is a client of the API server that gets a certificate and a
// kubeconfig of its own.
type component struct {
	file   string
	user   string
	groups []string
}

// runPKI issues the cluster CA, the serving and client certificates, the
// front-proxy CA and client certificate of the aggregation layer, the
// service-account key and one kubeconfig per component into -dir.
func runPKI(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory to write certificates and kubeconfigs to")
	nodeName := fs.String("node-name", "", "the node's name")
	nodeIP := fs.String("node-ip", "", "the node's (and API server's) address")
	serviceIP := fs.String("service-ip", "10.96.0.1", "the kubernetes Service's cluster IP")
	port := fs.Int("apiserver-port", 6443, "the API server's secure port")
	cluster := fs.String("cluster-name", "cdi-functions", "cluster and context name in kubeconfigs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ip := net.ParseIP(*nodeIP)
	svc := net.ParseIP(*serviceIP)
	if *dir == "" || *nodeName == "" || ip == nil || svc == nil {
		return fmt.Errorf("-dir, -node-name, -node-ip and -service-ip are required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", *dir, err)
	}
	now := time.Now()
	ca, err := pki.NewAuthority(*cluster+"-ca", now)
	if err != nil {
		return err
	}
	if err := ca.WriteFiles(*dir, "ca"); err != nil {
		return err
	}

	serving := []struct {
		file string
		req  pki.Request
	}{
		{"apiserver", pki.Request{
			CommonName: "kube-apiserver",
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local"},
			IPs:    []net.IP{net.IPv4(127, 0, 0, 1), ip, svc},
			Server: true,
		}},
		{"kubelet", pki.Request{
			CommonName: "system:node:" + *nodeName,
			DNSNames:   []string{*nodeName, "localhost"},
			IPs:        []net.IP{net.IPv4(127, 0, 0, 1), ip},
			Server:     true,
		}},
		{"apiserver-kubelet-client", pki.Request{
			CommonName:    "kube-apiserver-kubelet-client",
			Organizations: []string{"system:masters"},
		}},
	}
	for _, s := range serving {
		kp, err := ca.Issue(s.req, now)
		if err != nil {
			return err
		}
		if err := kp.WriteFiles(*dir, s.file); err != nil {
			return err
		}
	}

	if err := frontProxy(*dir, now); err != nil {
		return err
	}

	sa, err := pki.NewKey()
	if err != nil {
		return err
	}
	saKey, err := pki.KeyPEM(sa)
	if err != nil {
		return err
	}
	saPub, err := pki.PublicKeyPEM(sa)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "sa.key"), saKey, 0o600); err != nil {
		return fmt.Errorf("write service-account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(*dir, "sa.pub"), saPub, 0o644); err != nil {
		return fmt.Errorf("write service-account public key: %w", err)
	}

	server := fmt.Sprintf("https://%s", net.JoinHostPort(ip.String(), fmt.Sprint(*port)))
	clients := []component{
		{"admin", "cdi-functions-admin", []string{"system:masters"}},
		{"controller-manager", "system:kube-controller-manager", nil},
		{"scheduler", "system:kube-scheduler", nil},
		{"kube-proxy", "system:kube-proxy", nil},
		{"kubelet-client", "system:node:" + *nodeName, []string{"system:nodes"}},
	}
	for _, c := range clients {
		kp, err := ca.Issue(pki.Request{CommonName: c.user, Organizations: c.groups}, now)
		if err != nil {
			return err
		}
		key, err := kp.KeyPEM()
		if err != nil {
			return err
		}
		err = kubeconfig.Write(filepath.Join(*dir, c.file+".kubeconfig"), kubeconfig.Config{
			Cluster: *cluster, Server: server, User: c.user,
			CA: ca.CertPEM(), Cert: kp.CertPEM(), Key: key,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// frontProxy issues the aggregation layer's own CA (front-proxy-ca) and the
// client certificate (CN front-proxy-client) the API server presents to
// aggregated API servers, which trust the X-Remote-* headers only from a
// client with that certificate. A CA apart from the cluster CA: no client
// certificate of the cluster CA can pass as the front proxy.
func frontProxy(dir string, now time.Time) error {
	ca, err := pki.NewAuthority("front-proxy-ca", now)
	if err != nil {
		return err
	}
	if err := ca.WriteFiles(dir, "front-proxy-ca"); err != nil {
		return err
	}
	kp, err := ca.Issue(pki.Request{CommonName: "front-proxy-client"}, now)
	if err != nil {
		return err
	}
	return kp.WriteFiles(dir, "front-proxy-client")
}
