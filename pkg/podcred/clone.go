package podcred

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// The clone variant: the same kind of authority, kept in its own Secret
// (the upload proxy, which reads the upload authority, must not be able
// to pose as a clone source), derives for each clone — named by the UID
// of its target claim — a bearer credential the source data pod presents
// and a serving certificate the target data pod listens with. The source
// pod gets the credential and the authority's certificate only.

// CloneSecretName is the Secret, in the system namespace, holding the
// clone authority.
const CloneSecretName = "cdi-clone-authority"

// cloneServerNameSuffix ends every clone target's server name.
const cloneServerNameSuffix = ".clone.cdi-functions.invalid"

// CloneServerName is the TLS server name of the target data pod of the
// clone into the claim with UID targetUID.
func CloneServerName(targetUID string) string { return targetUID + cloneServerNameSuffix }

// CloneCredential is the bearer credential of the clone into the claim
// with UID targetUID: unique to the clone, and not an upload credential
// of any claim (another derivation label).
func (a *Authority) CloneCredential(targetUID string) string {
	m := hmac.New(sha256.New, a.mac)
	m.Write([]byte("cdi-functions clone credential\x00" + targetUID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// IssueClone makes the credential of the clone into the claim with UID
// targetUID: the bearer credential and a fresh serving certificate for
// CloneServerName(targetUID), valid from now, for the target data pod.
func (a *Authority) IssueClone(targetUID string, now time.Time) (PodCredential, error) {
	if a.caKey == nil {
		return PodCredential{}, errors.New("this authority has no private key: it cannot issue")
	}
	if targetUID == "" {
		return PodCredential{}, errors.New("no target claim UID")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PodCredential{}, fmt.Errorf("generate the clone target key: %w", err)
	}
	name := CloneServerName(targetUID)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(PodCertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.caCert, &key.PublicKey, a.caKey)
	if err != nil {
		return PodCredential{}, fmt.Errorf("sign the clone target certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return PodCredential{}, fmt.Errorf("encode the clone target key: %w", err)
	}
	return PodCredential{
		Bearer:  a.CloneCredential(targetUID),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

// CACertPEM is the authority's certificate, which the clone source pod
// trusts.
func (a *Authority) CACertPEM() []byte { return append([]byte(nil), a.caPEM...) }

// CloneClient is the TLS configuration to dial the target data pod of the
// clone into the claim with UID targetUID.
func (a *Authority) CloneClient(targetUID string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(a.caCert)
	return &tls.Config{RootCAs: pool, ServerName: CloneServerName(targetUID), MinVersion: tls.VersionTLS13}
}
