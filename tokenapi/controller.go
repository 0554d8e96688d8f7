package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/boot"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// programName names the program in logs and its user agent.
const programName = "cdi-tokenapi"

// Environment variables run reads.
const (
	// envNamespace is the system namespace (downward API): the keys and
	// certificate Secrets and the Service live there.
	envNamespace = "SYSTEM_NAMESPACE"
	// envService is the Service the APIServices name (default
	// cdi-tokenapi); the serving certificate is issued for it.
	envService = "SERVICE_NAME"
	// envPort is the HTTPS port (default 8443).
	envPort = "PORT"
	// envLogLevel is the zap level (default info).
	envLogLevel = "LOG_LEVEL"
)

// Timing of the server.
const (
	// certInterval: how often the serving certificate is checked (renewed
	// 30 days before it expires; another replica's renewal is picked up).
	certInterval = time.Hour
	// drainDelay: how long the server keeps serving after SIGTERM while
	// its endpoint is removed.
	drainDelay = 5 * time.Second
)

// run wires the server and serves until ctx ends.
func run(ctx context.Context) error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (in-cluster config when empty)")
	flag.Parse()

	logger, err := boot.NewLogger(programName, os.Getenv(envLogLevel))
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	ctx = logging.WithLogger(ctx, logger)

	ns := os.Getenv(envNamespace)
	if ns == "" {
		return fmt.Errorf("%s is not set: the namespace of cdi-functions' components", envNamespace)
	}
	service := envOr(envService, "cdi-tokenapi")
	port := envOr(envPort, "8443")

	cfg, err := boot.RestConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent = "cdi-functions/" + programName
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}

	// The token keys: created once, then watched (rotation).
	keys := &keyStore{}
	sec, err := ensureKeysSecret(ctx, kube, ns)
	if err != nil {
		return err
	}
	if err := keys.update(ctx, sec); err != nil {
		return err
	}
	if err := watchNamed(ctx, kube, "secrets", ns, uploadtoken.SecretName, &corev1.Secret{}, func(s *corev1.Secret) {
		if err := keys.update(ctx, s); err != nil {
			logger.Errorw("Loading the upload token keys", "error", err)
		}
	}); err != nil {
		return err
	}

	// Who the front proxy is, and its headers: watched (CA rotation).
	authn := newFrontProxy(time.Now)
	if err := watchNamed(ctx, kube, "configmaps", authConfigNamespace, authConfigName, &corev1.ConfigMap{}, func(cm *corev1.ConfigMap) {
		fp, err := parseFrontProxyConfig(cm.Data)
		if err != nil {
			logger.Errorw("Loading the front proxy configuration; requests are refused until it loads", "error", err)
			return
		}
		authn.set(fp)
		logger.Infow("Loaded the front proxy configuration", "allowedNames", fp.AllowedNames, "userHeaders", fp.UserHeaders)
	}); err != nil {
		return err
	}

	// The serving certificate and the APIServices' caBundle.
	certs := &servingCerts{kube: kube, dyn: dyn, namespace: ns, service: service, now: time.Now}
	if err := certs.reconcile(ctx); err != nil {
		return err
	}
	go certs.run(ctx, certInterval)

	docs, err := newOpenAPIDocs()
	if err != nil {
		return err
	}
	h := &api{
		authn: authn, keys: keys.get, kube: kube, openAPI: docs, now: time.Now, base: ctx,
		ready: func() bool { return keys.get() != nil && authn.ready() && certs.ready() },
	}
	return serve(ctx, ":"+port, h, certs.get)
}

// serve runs the HTTPS server until ctx ends, then drains it. Client
// certificates are requested, not verified by TLS: the handler verifies
// the front proxy's against the CA it currently trusts.
func serve(ctx context.Context, addr string, h http.Handler, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) error {
	logger := logging.FromContext(ctx)
	srv := &http.Server{
		Addr:    addr,
		Handler: h,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: getCert,
			ClientAuth:     tls.RequestClientCert,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          zap.NewStdLog(logger.Desugar()),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	logger.Infow("Serving", "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	time.Sleep(drainDelay)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// envOr is the environment variable name, or def when it is empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
