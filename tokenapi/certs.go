package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/webhook/certificates/resources"
)

// The serving certificate: a self-signed CA and a certificate for the
// Service's DNS names, kept in a Secret of the system namespace; the CA
// goes to the caBundle of the group's APIServices, so the kube-apiserver
// verifies whom it forwards users' requests to.
const (
	certSecretName = "cdi-tokenapi-certs"
	// Secret keys (knative.dev/pkg's webhook layout). caBundleKey holds the
	// current CA and, after a rotation, the previous one while its
	// certificate may still be served by another replica.
	caBundleKey   = "ca-cert.pem"
	serverCertKey = "server-cert.pem"
	serverKeyKey  = "server-key.pem"

	// certValidity is the lifetime of a new certificate; it is replaced
	// when less than certRenewBefore is left.
	certValidity    = 90 * 24 * time.Hour
	certRenewBefore = 30 * 24 * time.Hour
)

// apiServiceGVR is the APIService resource of the aggregation layer.
var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// apiServiceNames are the APIServices of the group, one per version.
func apiServiceNames() []string {
	out := make([]string, 0, len(versions))
	for _, v := range versions {
		out = append(out, v+".upload.cdi.kubevirt.io")
	}
	return out
}

// servingCerts keeps the serving certificate: it makes, renews and
// publishes it (Secret, APIService caBundles) and serves the current one.
type servingCerts struct {
	kube      kubernetes.Interface
	dyn       dynamic.Interface
	namespace string
	service   string
	now       func() time.Time
	current   atomic.Pointer[tls.Certificate]
}

// get is tls.Config.GetCertificate.
func (c *servingCerts) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("no serving certificate yet")
}

// ready reports whether a certificate is served.
func (c *servingCerts) ready() bool { return c.current.Load() != nil }

// run reconciles every interval until ctx ends, logging failures (the
// certificate in use stays valid for weeks).
func (c *servingCerts) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.reconcile(ctx); err != nil {
				logging.FromContext(ctx).Errorw("Reconciling the serving certificate", "error", err)
			}
		}
	}
}

// reconcile makes sure the Secret holds a certificate valid long enough
// for the Service's names (creating or renewing it), that both APIServices
// trust its CA bundle, and then serves it.
func (c *servingCerts) reconcile(ctx context.Context) error {
	secrets := c.kube.CoreV1().Secrets(c.namespace)
	s, err := secrets.Get(ctx, certSecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		data, err := newCertData(ctx, c.service, c.namespace, nil, c.now())
		if err != nil {
			return err
		}
		s, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: certSecretName, Namespace: c.namespace, Labels: map[string]string{
				"app.kubernetes.io/part-of": "cdi-functions", "app.kubernetes.io/component": "tokenapi",
			}},
			Type: corev1.SecretTypeOpaque, Data: data,
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			s, err = secrets.Get(ctx, certSecretName, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("create the serving certificate Secret %s/%s: %w", c.namespace, certSecretName, err)
		}
		logging.FromContext(ctx).Infow("Created the serving certificate", "secret", c.namespace+"/"+certSecretName)
	case err != nil:
		return fmt.Errorf("get the serving certificate Secret %s/%s: %w", c.namespace, certSecretName, err)
	}
	if why := renewReason(s.Data, serviceDNSName(c.service, c.namespace), c.now()); why != "" {
		data, err := newCertData(ctx, c.service, c.namespace, s.Data[caBundleKey], c.now())
		if err != nil {
			return err
		}
		s = s.DeepCopy()
		s.Data = data
		if s, err = secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			// A conflict: another replica renewed it; the next round reads it.
			return fmt.Errorf("renew the serving certificate (%s): %w", why, err)
		}
		logging.FromContext(ctx).Infow("Renewed the serving certificate", "reason", why)
	}
	// The CA bundle first, then the certificate: the aggregator trusts the
	// new CA before it is presented (the old one stays in the bundle).
	for _, name := range apiServiceNames() {
		if err := c.setCABundle(ctx, name, s.Data[caBundleKey]); err != nil {
			return err
		}
	}
	cert, err := tls.X509KeyPair(s.Data[serverCertKey], s.Data[serverKeyKey])
	if err != nil {
		return fmt.Errorf("serving certificate Secret %s/%s: %w", c.namespace, certSecretName, err)
	}
	c.current.Store(&cert)
	return nil
}

// setCABundle patches the APIService name's caBundle when it differs.
func (c *servingCerts) setCABundle(ctx context.Context, name string, bundle []byte) error {
	res := c.dyn.Resource(apiServiceGVR)
	svc, err := res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get APIService %s: %w", name, err)
	}
	if cur, _, _ := unstructured.NestedString(svc.Object, "spec", "caBundle"); cur == base64.StdEncoding.EncodeToString(bundle) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"caBundle": bundle}})
	if err != nil {
		return fmt.Errorf("patch APIService %s: %w", name, err)
	}
	if _, err := res.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("set the caBundle of APIService %s: %w", name, err)
	}
	logging.FromContext(ctx).Infow("Set the APIService's caBundle", "apiservice", name)
	return nil
}

// serviceDNSName is the name the kube-apiserver verifies the serving
// certificate for: <service>.<namespace>.svc.
func serviceDNSName(service, ns string) string { return service + "." + ns + ".svc" }

// renewReason says why the certificate in data must be replaced at now
// (missing, unreadable, not for name, expiring within certRenewBefore),
// or "" when it may stay.
func renewReason(data map[string][]byte, name string, now time.Time) string {
	if _, err := tls.X509KeyPair(data[serverCertKey], data[serverKeyKey]); err != nil {
		return "no usable certificate and key"
	}
	cert, err := firstCert(data[serverCertKey])
	if err != nil {
		return "no usable certificate"
	}
	if !slices.Contains(cert.DNSNames, name) {
		return "not issued for " + name
	}
	if left := cert.NotAfter.Sub(now); left < certRenewBefore {
		return fmt.Sprintf("expires in %s", left.Round(time.Hour))
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data[caBundleKey]) {
		return "no CA bundle"
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now}); err != nil {
		return "not signed by the CA bundle"
	}
	return ""
}

// newCertData makes a new CA and serving certificate (knative.dev/pkg's
// CreateCerts) and the Secret data holding them; the CA bundle keeps the
// previous CA of oldBundle while it is valid.
func newCertData(ctx context.Context, service, ns string, oldBundle []byte, now time.Time) (map[string][]byte, error) {
	key, cert, ca, err := resources.CreateCerts(ctx, service, ns, now.Add(certValidity))
	if err != nil {
		return nil, fmt.Errorf("make the serving certificate for %s: %w", serviceDNSName(service, ns), err)
	}
	bundle := bytes.Clone(ca)
	if prev, err := firstCert(oldBundle); err == nil && now.Before(prev.NotAfter) {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: prev.Raw})...)
	}
	return map[string][]byte{caBundleKey: bundle, serverCertKey: cert, serverKeyKey: key}, nil
}

// firstCert parses the first certificate of a PEM bundle.
func firstCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
