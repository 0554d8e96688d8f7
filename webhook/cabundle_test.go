package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	admissionlisters "k8s.io/client-go/listers/admissionregistration/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	pkgreconciler "knative.dev/pkg/reconciler"
	certresources "knative.dev/pkg/webhook/certificates/resources"
)

func configuration(ca string) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: configurationName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         configurationName,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "cdi", Name: serviceName}, CABundle: []byte(ca)},
		}, {
			Name:         "someone-elses.example.com",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "other", Name: "other"}, CABundle: []byte("theirs")},
		}},
	}
}

func certSecret(ca string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "cdi", Name: certSecretName},
		Data:       map[string][]byte{certresources.CACert: []byte(ca)},
	}
}

func newCABundle(t *testing.T, objs ...runtime.Object) (*caBundle, *fake.Clientset) {
	t.Helper()
	kube := fake.NewClientset(objs...)
	mwcs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		switch o := o.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			require.NoError(t, mwcs.Add(o))
		case *corev1.Secret:
			require.NoError(t, secrets.Add(o))
		}
	}
	key := types.NamespacedName{Name: configurationName}
	c := &caBundle{
		key:     key,
		service: types.NamespacedName{Namespace: "cdi", Name: serviceName},
		secret:  types.NamespacedName{Namespace: "cdi", Name: certSecretName},
		kube:    kube,
		mwcs:    admissionlisters.NewMutatingWebhookConfigurationLister(mwcs),
		secrets: corelisters.NewSecretLister(secrets),
	}
	require.NoError(t, c.Promote(pkgreconciler.UniversalBucket(), func(pkgreconciler.Bucket, types.NamespacedName) {}))
	kube.ClearActions()
	return c, kube
}

func TestCABundle(t *testing.T) {
	ctx := context.Background()
	t.Run("sets our webhook's caBundle only", func(t *testing.T) {
		c, kube := newCABundle(t, configuration(""), certSecret("CA-1"))
		require.NoError(t, c.Reconcile(ctx, configurationName))
		got, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, configurationName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "CA-1", string(got.Webhooks[0].ClientConfig.CABundle))
		assert.Equal(t, "theirs", string(got.Webhooks[1].ClientConfig.CABundle))
	})
	t.Run("in step: no update", func(t *testing.T) {
		c, kube := newCABundle(t, configuration("CA-1"), certSecret("CA-1"))
		require.NoError(t, c.Reconcile(ctx, configurationName))
		assert.Empty(t, kube.Actions())
	})
	t.Run("nothing to do yet", func(t *testing.T) {
		for name, objs := range map[string][]runtime.Object{
			"no secret":        {configuration("")},
			"empty secret":     {configuration(""), certSecret("")},
			"no configuration": {certSecret("CA-1")},
		} {
			c, kube := newCABundle(t, objs...)
			assert.NoError(t, c.Reconcile(ctx, configurationName), name)
			assert.Empty(t, kube.Actions(), name)
		}
	})
	t.Run("not the leader", func(t *testing.T) {
		c, kube := newCABundle(t, configuration(""), certSecret("CA-1"))
		c.Demote(pkgreconciler.UniversalBucket())
		assert.Error(t, c.Reconcile(ctx, configurationName))
		assert.Empty(t, kube.Actions())
	})
}
