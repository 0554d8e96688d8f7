package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/webhook/certificates/resources"

	"github.com/cdi-functions/cdi-functions/internal/kubetest"
)

func testContext() context.Context {
	return logging.WithLogger(context.Background(), zap.NewNop().Sugar())
}

// certData is a Secret's data with a certificate valid until notAfter.
func certData(t *testing.T, notAfter time.Time) map[string][]byte {
	t.Helper()
	key, cert, ca, err := resources.CreateCerts(testContext(), ServiceName, "cdi", notAfter)
	require.NoError(t, err)
	return map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key, "ca.crt": ca}
}

func TestCertProblem(t *testing.T) {
	now := time.Now()
	good := certData(t, now.Add(certLifetime))
	other := certData(t, now.Add(certLifetime))
	tests := []struct {
		name string
		data map[string][]byte
		at   time.Time
		want string
	}{
		{"valid for long enough", good, now, ""},
		{"none", nil, now, "no certificate"},
		{"key of another certificate", map[string][]byte{corev1.TLSCertKey: good[corev1.TLSCertKey], corev1.TLSPrivateKeyKey: other[corev1.TLSPrivateKeyKey]}, now, "does not load"},
		{"due for renewal", good, now.Add(certLifetime - renewBefore + time.Hour), "expires at"},
		{"expired", good, now.Add(2 * certLifetime), "expires at"},
		{"not valid yet", good, now.Add(-time.Hour), "valid only from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, problem := certProblem(tt.data, tt.at)
			if tt.want == "" {
				assert.Empty(t, problem)
				assert.NotNil(t, cert)
				return
			}
			assert.Contains(t, problem, tt.want)
			assert.Nil(t, cert)
		})
	}
}

func TestNewCertDataNamesTheService(t *testing.T) {
	data, err := newCertData(testContext(), "cdi", time.Now())
	require.NoError(t, err)
	b, _ := pem.Decode(data[corev1.TLSCertKey])
	require.NotNil(t, b)
	leaf, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	assert.Subset(t, leaf.DNSNames, []string{"cdi-uploadproxy.cdi.svc", "cdi-uploadproxy.cdi.svc.cluster.local"})
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(data["ca.crt"]))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "cdi-uploadproxy.cdi.svc"})
	assert.NoError(t, err, "ca.crt verifies the serving certificate")
}

func tlsSecret(data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cdi", Name: TLSSecretName, ResourceVersion: "1"}, Type: corev1.SecretTypeTLS, Data: data}
}

func TestCertSync(t *testing.T) {
	now := time.Now()
	valid := certData(t, now.Add(certLifetime))
	due := certData(t, now.Add(renewBefore-time.Hour))
	const (
		get    = "get secrets cdi/" + TLSSecretName
		create = "create secrets cdi/" + TLSSecretName
		update = "update secrets cdi/" + TLSSecretName
	)
	conflictOnce := func(kube *fake.Clientset) {
		done := false
		kube.PrependReactor("update", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
			if done {
				return false, nil, nil
			}
			done = true
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, TLSSecretName, errors.New("changed"))
		})
	}
	tests := []struct {
		name    string
		objs    []runtime.Object
		react   func(*fake.Clientset)
		want    []string
		wantSer *x509.Certificate // nil: a new one
	}{
		{name: "valid: used as it is", objs: []runtime.Object{tlsSecret(valid)}, want: []string{get}, wantSer: leafOf(t, valid)},
		{name: "none: created, read back", want: []string{get, create, get}},
		{name: "due: renewed, read back", objs: []runtime.Object{tlsSecret(due)}, want: []string{get, update, get}},
		{name: "another replica renewed first", objs: []runtime.Object{tlsSecret(due)}, react: conflictOnce, want: []string{get, update, get, update, get}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset(tt.objs...)
			if tt.react != nil {
				tt.react(kube)
			}
			c := &certSource{kube: kube, namespace: "cdi", now: time.Now}
			require.NoError(t, c.sync(testContext()))
			kubetest.Expect(t, kube, tt.want...)
			cert, err := c.GetCertificate(nil)
			require.NoError(t, err)
			if tt.wantSer != nil {
				assert.True(t, tt.wantSer.Equal(cert.Leaf))
			}
			s, err := kube.CoreV1().Secrets("cdi").Get(context.Background(), TLSSecretName, metav1.GetOptions{})
			require.NoError(t, err)
			assert.True(t, leafOf(t, s.Data).Equal(cert.Leaf), "serves what is stored")
			assert.Equal(t, corev1.SecretTypeTLS, s.Type)
			_, problem := certProblem(s.Data, now)
			assert.Empty(t, problem)
		})
	}
}

func TestGetCertificateBeforeSync(t *testing.T) {
	_, err := (&certSource{}).GetCertificate(nil)
	assert.Error(t, err)
}

func leafOf(t *testing.T, data map[string][]byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data[corev1.TLSCertKey])
	require.NotNil(t, b)
	c, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	return c
}
