package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// The ConfigMap kube-system/extension-apiserver-authentication, which the
// kube-apiserver publishes for aggregated API servers, and its keys that
// describe the front proxy (the aggregator calling us on a user's behalf).
const (
	authConfigNamespace = "kube-system"
	authConfigName      = "extension-apiserver-authentication"

	keyRequestHeaderCA           = "requestheader-client-ca-file"
	keyRequestHeaderAllowedNames = "requestheader-allowed-names"
	keyRequestHeaderUser         = "requestheader-username-headers"
	keyRequestHeaderUID          = "requestheader-uid-headers"
	keyRequestHeaderGroup        = "requestheader-group-headers"
	keyRequestHeaderExtraPrefix  = "requestheader-extra-headers-prefix"
)

// errUnauthenticated is wrapped by every refusal of authenticate (answered
// 401).
var errUnauthenticated = errors.New("unauthenticated")

// frontProxyConfig is how the front proxy is recognised and where it puts
// the caller's identity: a client certificate signed by CAs (with a common
// name in AllowedNames, when that is not empty), then the headers.
type frontProxyConfig struct {
	// CAs verify the front proxy's client certificate.
	CAs *x509.CertPool
	// AllowedNames are the common names a front proxy certificate may
	// have; empty allows any certificate CAs signed.
	AllowedNames []string
	// UserHeaders, UIDHeaders and GroupHeaders carry the caller's name,
	// UID and groups; ExtraPrefixes start the headers of its extra
	// attributes.
	UserHeaders   []string
	UIDHeaders    []string
	GroupHeaders  []string
	ExtraPrefixes []string
}

// parseFrontProxyConfig reads the front proxy's description from the data
// of the extension-apiserver-authentication ConfigMap. Without a request
// header CA there is no front proxy to trust: an error.
func parseFrontProxyConfig(data map[string]string) (*frontProxyConfig, error) {
	ca := data[keyRequestHeaderCA]
	if strings.TrimSpace(ca) == "" {
		return nil, fmt.Errorf("%s/%s has no %s: the API server's aggregation layer is not configured (--requestheader-client-ca-file)",
			authConfigNamespace, authConfigName, keyRequestHeaderCA)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca)) {
		return nil, fmt.Errorf("%s/%s: %s holds no PEM certificate", authConfigNamespace, authConfigName, keyRequestHeaderCA)
	}
	cfg := &frontProxyConfig{CAs: pool}
	for _, f := range []struct {
		key      string
		into     *[]string
		required bool
	}{
		{keyRequestHeaderAllowedNames, &cfg.AllowedNames, false},
		{keyRequestHeaderUser, &cfg.UserHeaders, true},
		{keyRequestHeaderUID, &cfg.UIDHeaders, false},
		{keyRequestHeaderGroup, &cfg.GroupHeaders, false},
		{keyRequestHeaderExtraPrefix, &cfg.ExtraPrefixes, false},
	} {
		v, err := jsonList(data[f.key])
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %s: %w", authConfigNamespace, authConfigName, f.key, err)
		}
		if f.required && len(v) == 0 {
			return nil, fmt.Errorf("%s/%s: %s is empty: no header names the user", authConfigNamespace, authConfigName, f.key)
		}
		*f.into = v
	}
	return cfg, nil
}

// jsonList parses the ConfigMap's JSON string lists (`["X-Remote-User"]`);
// empty means none.
func jsonList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("want a JSON list of strings: %w", err)
	}
	return slices.DeleteFunc(out, func(v string) bool { return strings.TrimSpace(v) == "" }), nil
}

// frontProxy authenticates the requests the kube-apiserver's aggregation
// layer forwards: the identity headers are believed only from a client that
// presented a certificate of the request header CA with an allowed name.
// Its configuration is replaced when the ConfigMap changes.
type frontProxy struct {
	cfg atomic.Pointer[frontProxyConfig]
	now func() time.Time
}

// newFrontProxy returns an authenticator that refuses everything until
// its configuration is set.
func newFrontProxy(now func() time.Time) *frontProxy {
	return &frontProxy{now: now}
}

// set replaces the configuration.
func (f *frontProxy) set(cfg *frontProxyConfig) { f.cfg.Store(cfg) }

// ready reports whether a configuration was set.
func (f *frontProxy) ready() bool { return f.cfg.Load() != nil }

// authenticate returns the caller a request was made for. Every refusal
// wraps errUnauthenticated and says why without repeating any header.
func (f *frontProxy) authenticate(r *http.Request) (authenticationv1.UserInfo, error) {
	cfg := f.cfg.Load()
	if cfg == nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("%w: the front proxy's configuration is not loaded yet", errUnauthenticated)
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return authenticationv1.UserInfo{}, fmt.Errorf("%w: no client certificate: only the API server's front proxy may call this server", errUnauthenticated)
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: cfg.CAs, Intermediates: inter, CurrentTime: f.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("%w: client certificate %q is not the front proxy's: %v", errUnauthenticated, leaf.Subject.CommonName, err)
	}
	if len(cfg.AllowedNames) > 0 && !slices.Contains(cfg.AllowedNames, leaf.Subject.CommonName) {
		return authenticationv1.UserInfo{}, fmt.Errorf("%w: client certificate %q is not an allowed front proxy name", errUnauthenticated, leaf.Subject.CommonName)
	}
	user := authenticationv1.UserInfo{Username: first(r.Header, cfg.UserHeaders), UID: first(r.Header, cfg.UIDHeaders)}
	if user.Username == "" {
		return authenticationv1.UserInfo{}, fmt.Errorf("%w: the front proxy named no user", errUnauthenticated)
	}
	for _, h := range cfg.GroupHeaders {
		user.Groups = append(user.Groups, r.Header.Values(h)...)
	}
	user.Extra = extra(r.Header, cfg.ExtraPrefixes)
	return user, nil
}

// first is the first non-empty value of the headers names.
func first(h http.Header, names []string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// extra reads the extra attributes: every header starting with one of
// prefixes, its key lower-cased and unescaped after the prefix, as the
// kube-apiserver's request header authenticator does.
func extra(h http.Header, prefixes []string) map[string]authenticationv1.ExtraValue {
	var out map[string]authenticationv1.ExtraValue
	for name, values := range h {
		for _, p := range prefixes {
			if len(name) <= len(p) || !strings.EqualFold(name[:len(p)], p) {
				continue
			}
			key := strings.ToLower(name[len(p):])
			if k, err := url.PathUnescape(key); err == nil {
				key = k
			}
			if out == nil {
				out = map[string]authenticationv1.ExtraValue{}
			}
			out[key] = append(out[key], values...)
		}
	}
	return out
}
