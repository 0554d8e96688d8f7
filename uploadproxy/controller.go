package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/runtime"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/observability/metrics"
	"knative.dev/pkg/observability/resource"

	"github.com/cdi-functions/cdi-functions/pkg/boot"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// component names the program in logs and metrics.
const component = "cdi-uploadproxy"

// Who creates the Secrets the proxy only reads, for its logs.
const (
	keysCreator      = "cdi-tokenapi"
	authorityCreator = "cdi-uploader"
)

// uploadPodSelector selects the upload data pods: the only pods the proxy
// caches.
const uploadPodSelector = datapod.LabelManagedBy + "=" + datapod.ManagedBy + "," + datapod.LabelKind + "=" + datapod.KindUpload

// run wires the proxy and serves until ctx is done: the serving
// certificate first (nothing is served without it), then the Secrets and
// informers, ready once all of them are loaded.
func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet(component, flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", getenv("KUBECONFIG"), "kubeconfig file (in-cluster config when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := settingsFromEnv(getenv)
	if err != nil {
		return err
	}
	logger, _ := logging.NewLogger("", s.LogLevel)
	logger = logger.Named(component)
	defer func() { _ = logger.Sync() }()
	ctx = logging.WithLogger(ctx, logger)

	cfg, err := boot.RestConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent = "cdi-functions/" + component
	cfg.QPS, cfg.Burst = s.QPS, s.Burst
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	mp, err := metrics.NewMeterProvider(ctx, metrics.Config{Protocol: metrics.ProtocolPrometheus},
		sdkmetric.WithResource(resource.Default(component)))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()
	if err := runtime.Start(runtime.WithMeterProvider(mp)); err != nil {
		return fmt.Errorf("runtime metrics: %w", err)
	}

	certs := &certSource{kube: kube, namespace: s.Namespace, now: time.Now}
	if err := certs.waitFirst(ctx); err != nil {
		return err
	}
	go certs.run(ctx)

	f := &front{}
	keys := newSecretWatch(kube, s.Namespace, uploadtoken.SecretName, keysCreator, uploadtoken.ParseKeys)
	authority := newSecretWatch(kube, s.Namespace, podcred.SecretName, authorityCreator, podcred.Parse)
	claims, pods := informers.NewSharedInformerFactoryWithOptions(kube, 0),
		informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = uploadPodSelector
		}))
	claimInformer, podInformer := claims.Core().V1().PersistentVolumeClaims(), pods.Core().V1().Pods()
	for _, i := range []cache.SharedIndexInformer{claimInformer.Informer(), podInformer.Informer()} {
		if err := i.SetTransform(stripManagedFields); err != nil {
			return fmt.Errorf("informer transform: %w", err)
		}
	}
	loc := &Locator{Claims: claimInformer.Lister(), Pods: podInformer.Lister(), Kube: kube, Authority: authority.Current}
	keys.onChange = func(k *uploadtoken.Keys) {
		f.handler.Store(&uploadproxy.Handler{Keys: k, Locator: loc, Wait: s.PodWait})
	}
	synced := []cache.InformerSynced{claimInformer.Informer().HasSynced, podInformer.Informer().HasSynced}
	f.ready = func() error {
		var errs []error
		for _, w := range []interface{ ready() error }{keys, authority} {
			errs = append(errs, w.ready())
		}
		for _, ok := range synced {
			if !ok() {
				errs = append(errs, errors.New("the claim and upload pod caches are not synced yet"))
				break
			}
		}
		return errors.Join(errs...)
	}
	for _, w := range []interface{ run(context.Context) error }{keys, authority} {
		if err := w.run(ctx); err != nil {
			return err
		}
	}
	claims.Start(ctx.Done())
	pods.Start(ctx.Done())

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(s.Port))
	if err != nil {
		return fmt.Errorf("listen :%d: %w", s.Port, err)
	}
	logger.Infow("Serving HTTPS", "address", ln.Addr().String(), "podWait", s.PodWait.String())
	return serve(ctx, newServer(ctx, f, certs), ln, f, drainDelay, s.ShutdownTimeout)
}

// stripManagedFields drops what the proxy never reads from cached objects.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
