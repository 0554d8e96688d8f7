package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/webhook/certificates/resources"
)

// The proxy's serving certificate.
const (
	// ServiceName is the upload proxy's Service; the certificate is valid
	// for its DNS names.
	ServiceName = "cdi-uploadproxy"
	// TLSSecretName is the Secret, in the system namespace, holding the
	// serving certificate: made by the first replica that finds none,
	// renewed by the first that finds it due, read by every replica.
	TLSSecretName = "cdi-uploadproxy-tls"
	// certLifetime is a new certificate's validity.
	certLifetime = 90 * 24 * time.Hour
	// renewBefore: a certificate expiring sooner than this is replaced.
	renewBefore = 30 * 24 * time.Hour
	// certCheckInterval is how often the Secret is read again (for a
	// renewal made by another replica, or due).
	certCheckInterval = 10 * time.Minute
)

// certSource is the proxy's serving certificate, kept in its Secret and
// swapped (tls.Config.GetCertificate) without a restart when renewed.
type certSource struct {
	kube      kubernetes.Interface
	namespace string
	now       func() time.Time
	current   atomic.Pointer[tls.Certificate]
}

// GetCertificate is the tls.Config callback: the current certificate.
func (c *certSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("no serving certificate yet")
}

// certProblem says why a Secret's data cannot serve until renewBefore
// from now ("" when it can), and returns its certificate.
func certProblem(data map[string][]byte, now time.Time) (*tls.Certificate, string) {
	if len(data[corev1.TLSCertKey]) == 0 || len(data[corev1.TLSPrivateKeyKey]) == 0 {
		return nil, "no certificate"
	}
	cert, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Sprintf("the certificate does not load: %v", err)
	}
	switch leaf := cert.Leaf; {
	case now.Before(leaf.NotBefore.Add(-5 * time.Minute)):
		return nil, fmt.Sprintf("the certificate is valid only from %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	case now.Add(renewBefore).After(leaf.NotAfter):
		return nil, fmt.Sprintf("the certificate expires at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, ""
}

// newCertData is the data of a fresh Secret: a new CA (whose certificate
// clients may pin, ca.crt) and a serving certificate for the Service's
// DNS names, both valid for certLifetime.
func newCertData(ctx context.Context, namespace string, now time.Time) (map[string][]byte, error) {
	key, cert, ca, err := resources.CreateCerts(ctx, ServiceName, namespace, now.Add(certLifetime))
	if err != nil {
		return nil, fmt.Errorf("create the serving certificate: %w", err)
	}
	return map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key, "ca.crt": ca}, nil
}

// sync loads the Secret's certificate, filling the Secret when it is
// empty (as config/ ships it) and renewing the certificate when it is
// due; a missing Secret is created where RBAC allows it. Replicas racing agree
// on the stored version (create: AlreadyExists, update: Conflict, then
// read again).
func (c *certSource) sync(ctx context.Context) error {
	logger := logging.FromContext(ctx)
	secrets := c.kube.CoreV1().Secrets(c.namespace)
	for range 3 {
		s, err := secrets.Get(ctx, TLSSecretName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			data, err := newCertData(ctx, c.namespace, c.now())
			if err != nil {
				return err
			}
			s = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: TLSSecretName, Namespace: c.namespace, Labels: map[string]string{
					"app.kubernetes.io/part-of": "cdi-functions", "app.kubernetes.io/component": "uploadproxy",
				}},
				Type: corev1.SecretTypeTLS, Data: data,
			}
			if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				continue
			} else if apierrors.IsForbidden(err) {
				return fmt.Errorf("create Secret %s/%s: %w (config/530-uploadproxy.yaml ships it: apply it)", c.namespace, TLSSecretName, err)
			} else if err != nil {
				return fmt.Errorf("create Secret %s/%s: %w", c.namespace, TLSSecretName, err)
			}
			logger.Infow("Created the serving certificate", zap.String("secret", c.namespace+"/"+TLSSecretName))
			continue // read back what was stored
		}
		if err != nil {
			return fmt.Errorf("get Secret %s/%s: %w", c.namespace, TLSSecretName, err)
		}
		cert, problem := certProblem(s.Data, c.now())
		if problem == "" {
			if old := c.current.Swap(cert); old == nil || !old.Leaf.Equal(cert.Leaf) {
				logger.Infow("Serving with the certificate", zap.Time("notAfter", cert.Leaf.NotAfter), zap.Strings("dnsNames", cert.Leaf.DNSNames))
			}
			return nil
		}
		logger.Infow("Renewing the serving certificate", zap.String("why", problem))
		data, err := newCertData(ctx, c.namespace, c.now())
		if err != nil {
			return err
		}
		s = s.DeepCopy()
		s.Data = data
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("update Secret %s/%s: %w", c.namespace, TLSSecretName, err)
		}
	}
	return fmt.Errorf("the Secret %s/%s changed under us three times", c.namespace, TLSSecretName)
}

// waitFirst syncs until it succeeds (backing off from 1 s to 30 s) or ctx
// is done: without a certificate nothing can be served.
func (c *certSource) waitFirst(ctx context.Context) error {
	wait := time.Second
	for {
		err := c.sync(ctx)
		if err == nil {
			return nil
		}
		logging.FromContext(ctx).Errorw("No serving certificate yet: retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("serving certificate: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// run syncs every certCheckInterval until ctx is done; a failure keeps
// the current certificate, which is still valid for weeks.
func (c *certSource) run(ctx context.Context) {
	t := time.NewTicker(certCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.sync(ctx); err != nil {
			logging.FromContext(ctx).Errorw("Checking the serving certificate", zap.Error(err))
		}
	}
}
