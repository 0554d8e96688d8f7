package main

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	mwcinformer "knative.dev/pkg/client/injection/kube/informers/admissionregistration/v1/mutatingwebhookconfiguration"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	secretinformer "knative.dev/pkg/injection/clients/namespacedkube/informers/core/v1/secret"
	nsfactory "knative.dev/pkg/injection/clients/namespacedkube/informers/factory"
	"knative.dev/pkg/logging"
	pkgreconciler "knative.dev/pkg/reconciler"
	"knative.dev/pkg/system"
	"knative.dev/pkg/webhook"

	"github.com/cdi-functions/cdi-functions/pkg/cloneauth"
)

// Names the program, its manifests (config/550-webhook.yaml,
// config/560-clone-webhook.yaml) and pkg/cloneauth agree on.
const (
	// component names the program in logs, leases and metrics.
	component = "cdi-webhook"
	// serviceName is the webhook's Service in the system namespace; the
	// serving certificate is made for serviceName.<namespace>.svc.
	serviceName = "cdi-webhook"
	// certSecretName is the Secret knative.dev/pkg keeps the serving
	// certificate and its CA in (shipped empty, filled and renewed by the
	// certificates controller).
	certSecretName = "cdi-webhook-certs"
	// configurationName is the MutatingWebhookConfiguration whose caBundle
	// this program keeps.
	configurationName = "clone.cdi-functions.io"
	// clonePath is where the API server sends clone claims.
	clonePath = "/clone"
	// defaultPort is the HTTPS port (WEBHOOK_PORT overrides it).
	defaultPort = 8443
)

// reconciler is both the admission controller of clonePath and the
// reconciler of the webhook configuration's caBundle:
// sharedmain serves a controller's Reconciler as a webhook when it
// implements webhook.AdmissionController.
type reconciler struct {
	*admitter
	*caBundle
}

var (
	_ webhook.AdmissionController          = (*reconciler)(nil)
	_ webhook.StatelessAdmissionController = (*reconciler)(nil)
	_ controller.Reconciler                = (*reconciler)(nil)
	_ pkgreconciler.LeaderAware            = (*reconciler)(nil)
)

// NewController wires the webhook (an injection.ControllerConstructor):
// the signing key (created once, pkg/cloneauth.Ensure), the admission
// controller that checks clone claims and stamps their grant, and the
// reconciler that copies the serving certificate's CA into the webhook
// configuration whenever either changes.
func NewController(ctx context.Context, _ configmap.Watcher) *controller.Impl {
	logger := logging.FromContext(ctx)
	kube := kubeclient.Get(ctx)
	ns := system.Namespace()

	signer, err := cloneauth.Ensure(ctx, kube, ns)
	if err != nil {
		logger.Fatalw("Setting up the clone signing key", "error", err)
	}
	logger.Infow("Signing clone grants", "secret", ns+"/"+cloneauth.SigningSecretName,
		"verification", ns+"/"+cloneauth.VerificationConfigMapName)

	mwcs := mwcinformer.Get(ctx)
	secrets := secretinformer.Get(ctx)
	key := types.NamespacedName{Name: configurationName}
	r := &reconciler{
		admitter: &admitter{
			path:     clonePath,
			sign:     signer.Sign,
			mayClone: reviewAccess(kube),
			now:      time.Now,
		},
		caBundle: &caBundle{
			LeaderAwareFuncs: pkgreconciler.LeaderAwareFuncs{
				PromoteFunc: func(bkt pkgreconciler.Bucket, enq func(pkgreconciler.Bucket, types.NamespacedName)) error {
					enq(bkt, key)
					return nil
				},
			},
			key:     key,
			service: types.NamespacedName{Namespace: ns, Name: serviceName},
			secret:  types.NamespacedName{Namespace: ns, Name: webhook.GetOptions(ctx).SecretName},
			kube:    kube,
			mwcs:    mwcs.Lister(),
			secrets: secrets.Lister(),
		},
	}

	const queueName = "CloneWebhookCABundle"
	impl := controller.NewContext(ctx, r, controller.ControllerOptions{WorkQueueName: queueName, Logger: logger.Named(queueName)})
	// Whatever changed, the one configuration is reconciled.
	enqueue := func(any) { impl.EnqueueKey(key) }
	mwcs.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: controller.FilterWithName(configurationName),
		Handler:    controller.HandleAll(enqueue),
	})
	secrets.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: controller.FilterWithNameAndNamespace(ns, r.caBundle.secret.Name),
		Handler:    controller.HandleAll(enqueue),
	})
	return impl
}

// limitSecretInformer makes the informer factory of the system namespace,
// whose Secret informer knative.dev/pkg's webhook and certificates
// controller share, list and watch only the Secret name: the webhook then
// holds no other Secret of the namespace in memory, and its RBAC can name
// that Secret (a field selector on metadata.name is authorized as a
// request for the name). Registered after knative.dev/pkg's own factory,
// it replaces it.
func limitSecretInformer(name string) {
	injection.Default.RegisterInformerFactory(func(ctx context.Context) context.Context {
		return context.WithValue(ctx, nsfactory.Key{}, informers.NewSharedInformerFactoryWithOptions(
			kubeclient.Get(ctx), controller.GetResyncPeriod(ctx),
			informers.WithNamespace(system.Namespace()),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			})))
	})
}
