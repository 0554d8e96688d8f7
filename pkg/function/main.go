package function

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/runtime"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/observability/metrics"
	"knative.dev/pkg/observability/resource"
	"knative.dev/pkg/signals"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/boot"
)

// Environment variables Main reads.
const (
	// EnvPort is the port of the receiver and probes (default 8080).
	EnvPort = "PORT"
	// EnvTokenFile is the function's own projected token for the events
	// it sends (default auth.TokenFile).
	EnvTokenFile = "TOKEN_FILE"
)

// Main runs the function name: it parses flags, builds the logger, the
// Kubernetes client, the metrics (Prometheus on :9090 through
// knative.dev/pkg's observability, as the event source) and the Handler
// (newHandler), and serves until SIGTERM. It exits the process on error.
func Main(name string, newHandler func(ctx context.Context, env Env) (Handler, error)) {
	if err := run(name, newHandler); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run(name string, newHandler func(ctx context.Context, env Env) (Handler, error)) error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (in-cluster config when empty)")
	flag.Parse()

	logger, err := boot.NewLogger(name, os.Getenv("LOG_LEVEL"))
	if err != nil {
		return err
	}
	defer logger.Sync()
	ctx := logging.WithLogger(signals.NewContext(), logger)

	cfg, err := boot.RestConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent = "cdi-functions/" + name
	if err := setRateLimits(cfg, os.Getenv); err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	mp, err := metrics.NewMeterProvider(ctx, metrics.Config{Protocol: metrics.ProtocolPrometheus},
		sdkmetric.WithResource(resource.Default("cdi-"+name)))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer mp.Shutdown(context.WithoutCancel(ctx))
	if err := runtime.Start(runtime.WithMeterProvider(mp)); err != nil {
		return fmt.Errorf("runtime metrics: %w", err)
	}
	tokenFile := os.Getenv(EnvTokenFile)
	if tokenFile == "" {
		tokenFile = auth.TokenFile
	}
	env := Env{
		Name: name, Kube: kube, Namespace: os.Getenv("SYSTEM_NAMESPACE"), Getenv: os.Getenv,
		Meter:     mp.Meter("github.com/cdi-functions/cdi-functions/functions/" + name),
		Token:     auth.NewFileToken(tokenFile).Token,
		SinkToken: auth.OptionalFileToken(auth.SinkTokenFile),
	}
	if env.Namespace == "" {
		return fmt.Errorf("SYSTEM_NAMESPACE is not set: the namespace of cdi-functions' components")
	}
	h, err := newHandler(ctx, env)
	if err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	port := os.Getenv(EnvPort)
	if port == "" {
		port = "8080"
	}
	srv, err := NewServer(name, h, auth.NewReviewer(kube, auth.ReviewerOptions{}), env.Meter, logger)
	if err != nil {
		return err
	}
	srv.Drain = drainDelay
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return fmt.Errorf("listen :%s: %w", port, err)
	}
	return srv.Serve(ctx, ln)
}

// drainDelay is how long a function keeps serving after SIGTERM while its
// readiness fails: longer than endpoint propagation, well inside the
// default 30 s termination grace period.
const drainDelay = 5 * time.Second

// Default client rate limits. client-go's own (5 requests/s, bursts of 10)
// made the updater a 2 events/s bottleneck with 200 claims importing at once,
// and 50/s still held it to 25 events/s: every event costs a GET and a PATCH.
// The API server's priority and fairness, not a client-side limit, is what
// protects it from a busy function.
const (
	defaultQPS   = 200
	defaultBurst = 400
)

// setRateLimits applies KUBE_API_QPS and KUBE_API_BURST (the names
// knative.dev/pkg uses) or the defaults.
func setRateLimits(cfg *rest.Config, getenv func(string) string) error {
	cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	if v := getenv("KUBE_API_QPS"); v != "" {
		q, err := strconv.ParseFloat(v, 32)
		if err != nil || q <= 0 {
			return fmt.Errorf("KUBE_API_QPS %q: want a positive number", v)
		}
		cfg.QPS = float32(q)
	}
	if v := getenv("KUBE_API_BURST"); v != "" {
		b, err := strconv.Atoi(v)
		if err != nil || b <= 0 {
			return fmt.Errorf("KUBE_API_BURST %q: want a positive integer", v)
		}
		cfg.Burst = b
	}
	return nil
}
