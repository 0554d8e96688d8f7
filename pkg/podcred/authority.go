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
	"math/big"
	"time"
)

// SecretName is the Secret, in the system namespace, holding the
// authority.
const SecretName = "cdi-upload-authority"

// Secret data layout.
const (
	// KeyCACert is the authority's certificate (PEM).
	KeyCACert = "ca.crt"
	// KeyCAKey is the authority's private key (PKCS #8 PEM); only the
	// uploader needs it.
	KeyCAKey = "ca.key"
	// KeyMAC is the key credentials are derived with (32 random bytes).
	KeyMAC = "mac.key"
)

// Lifetimes of the certificates.
const (
	// CALifetime is the authority certificate's validity.
	CALifetime = 10 * 365 * 24 * time.Hour
	// PodCertLifetime is an upload pod certificate's validity: longer
	// than any upload pod lives.
	PodCertLifetime = 30 * 24 * time.Hour
	// clockSkew backdates certificates, for nodes whose clocks lag.
	clockSkew = 5 * time.Minute
)

// serverNameSuffix ends every upload pod's server name: a reserved
// top-level domain, so the name never resolves to anything.
const serverNameSuffix = ".upload.cdi-functions.invalid"

// ServerName is the TLS server name of the upload pod of the claim with
// UID claimUID: its certificate is valid for it alone.
func ServerName(claimUID string) string { return claimUID + serverNameSuffix }

// Authority issues and checks the credentials of upload pods.
type Authority struct {
	caCert *x509.Certificate
	caPEM  []byte
	// caKey is nil for an authority that can check but not issue.
	caKey *ecdsa.PrivateKey
	mac   []byte
}

// PodCredential is what one upload pod holds.
type PodCredential struct {
	// Bearer is the credential the proxy presents to the pod.
	Bearer string
	// CertPEM and KeyPEM are the pod's serving certificate and key.
	CertPEM, KeyPEM []byte
}

// New makes a new authority, valid from now.
func New(now time.Time) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the authority key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "cdi-functions upload pod authority"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create the authority certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse the authority certificate: %w", err)
	}
	mac := make([]byte, 32)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("generate the MAC key: %w", err)
	}
	return &Authority{caCert: cert, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), caKey: key, mac: mac}, nil
}

// SecretData is the authority as the data of its Secret.
func (a *Authority) SecretData() (map[string][]byte, error) {
	if a.caKey == nil {
		return nil, errors.New("this authority has no private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(a.caKey)
	if err != nil {
		return nil, fmt.Errorf("encode the authority key: %w", err)
	}
	return map[string][]byte{
		KeyCACert: a.caPEM,
		KeyCAKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		KeyMAC:    append([]byte(nil), a.mac...),
	}, nil
}

// Parse reads an authority from its Secret's data. Without KeyCAKey the
// authority checks (Credential, Client) but cannot Issue.
func Parse(data map[string][]byte) (*Authority, error) {
	block, _ := pem.Decode(data[KeyCACert])
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", KeyCACert)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCACert, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: not a CA certificate", KeyCACert)
	}
	if len(data[KeyMAC]) < 32 {
		return nil, fmt.Errorf("%s: shorter than 32 bytes", KeyMAC)
	}
	a := &Authority{caCert: cert, caPEM: append([]byte(nil), data[KeyCACert]...), mac: append([]byte(nil), data[KeyMAC]...)}
	if raw, ok := data[KeyCAKey]; ok {
		kb, _ := pem.Decode(raw)
		if kb == nil {
			return nil, fmt.Errorf("%s: no PEM key", KeyCAKey)
		}
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyCAKey, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok || !ek.PublicKey.Equal(cert.PublicKey) {
			return nil, fmt.Errorf("%s: not the key of %s", KeyCAKey, KeyCACert)
		}
		a.caKey = ek
	}
	return a, nil
}

// Credential is the bearer credential of the upload pod of the claim with
// UID claimUID.
func (a *Authority) Credential(claimUID string) string {
	return a.derive("cdi-functions upload pod credential", claimUID)
}

// derive is the MAC of uid under label: a credential of one kind (upload,
// clone) for one claim, never equal to another kind's.
func (a *Authority) derive(label, uid string) string {
	m := hmac.New(sha256.New, a.mac)
	m.Write([]byte(label + "\x00" + uid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue makes the credential of the upload pod of the claim with UID
// claimUID: its bearer credential and a fresh serving certificate for
// ServerName(claimUID), valid from now.
func (a *Authority) Issue(claimUID string, now time.Time) (PodCredential, error) {
	if claimUID == "" {
		return PodCredential{}, errors.New("no claim UID")
	}
	return a.issue(a.Credential(claimUID), ServerName(claimUID), now)
}

// issue makes a pod credential: bearer and a fresh serving certificate for
// name, signed by the authority, valid from now.
func (a *Authority) issue(bearer, name string, now time.Time) (PodCredential, error) {
	if a.caKey == nil {
		return PodCredential{}, errors.New("this authority has no private key: it cannot issue")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PodCredential{}, fmt.Errorf("generate the key of %s: %w", name, err)
	}
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
		return PodCredential{}, fmt.Errorf("sign the certificate of %s: %w", name, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return PodCredential{}, fmt.Errorf("encode the key of %s: %w", name, err)
	}
	return PodCredential{
		Bearer:  bearer,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

// Client is the TLS configuration to dial the upload pod of the claim
// with UID claimUID: only a certificate the authority issued for that
// claim is accepted.
func (a *Authority) Client(claimUID string) *tls.Config { return a.client(ServerName(claimUID)) }

// client accepts only a certificate the authority issued for name.
func (a *Authority) client(name string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(a.caCert)
	return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS13}
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return n
}
