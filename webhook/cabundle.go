package main

import (
	"bytes"
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	admissionlisters "k8s.io/client-go/listers/admissionregistration/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	pkgreconciler "knative.dev/pkg/reconciler"
	certresources "knative.dev/pkg/webhook/certificates/resources"
)

// caBundle keeps the caBundle of the webhooks of one
// MutatingWebhookConfiguration that call service equal to the CA of the
// serving certificate Secret, which knative.dev/pkg's certificates
// controller makes and renews (a new CA each time). Everything else in
// the configuration (rules, matchConditions, failurePolicy) is the
// manifest's; `kubectl apply` leaves caBundle alone, as it is not in the
// manifest.
type caBundle struct {
	pkgreconciler.LeaderAwareFuncs

	// key names the MutatingWebhookConfiguration.
	key types.NamespacedName
	// service is the Service whose webhooks are kept.
	service types.NamespacedName
	// secret is the serving certificate Secret.
	secret types.NamespacedName

	kube    kubernetes.Interface
	mwcs    admissionlisters.MutatingWebhookConfigurationLister
	secrets corelisters.SecretLister
}

// Reconcile implements controller.Reconciler: the leader copies the CA
// into every webhook of the configuration that names the service.
func (c *caBundle) Reconcile(ctx context.Context, key string) error {
	if !c.IsLeaderFor(c.key) {
		return controller.NewSkipKey(key)
	}
	logger := logging.FromContext(ctx)
	secret, err := c.secrets.Secrets(c.secret.Namespace).Get(c.secret.Name)
	if apierrors.IsNotFound(err) {
		logger.Infow("The serving certificate Secret does not exist yet", "secret", c.secret.String())
		return nil
	} else if err != nil {
		return fmt.Errorf("get the serving certificate secret %s: %w", c.secret, err)
	}
	ca := secret.Data[certresources.CACert]
	if len(ca) == 0 {
		// The certificates controller has not filled it yet; its update
		// enqueues the configuration again.
		logger.Infow("The serving certificate Secret has no CA yet", "secret", c.secret.String())
		return nil
	}
	current, err := c.mwcs.Get(c.key.Name)
	if apierrors.IsNotFound(err) {
		logger.Infow("The webhook configuration does not exist yet", "configuration", c.key.Name)
		return nil
	} else if err != nil {
		return fmt.Errorf("get the mutatingwebhookconfiguration %s: %w", c.key.Name, err)
	}
	want := current.DeepCopy()
	changed := false
	for i := range want.Webhooks {
		svc := want.Webhooks[i].ClientConfig.Service
		if svc == nil || svc.Namespace != c.service.Namespace || svc.Name != c.service.Name {
			continue
		}
		if !bytes.Equal(want.Webhooks[i].ClientConfig.CABundle, ca) {
			want.Webhooks[i].ClientConfig.CABundle = ca
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if _, err := c.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update the caBundle of mutatingwebhookconfiguration %s: %w", c.key.Name, err)
	}
	logger.Infow("Updated the webhook configuration's caBundle", "configuration", c.key.Name)
	return nil
}
