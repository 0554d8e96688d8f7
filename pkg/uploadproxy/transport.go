package uploadproxy

import (
	"container/list"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// DefaultMaxTransports bounds the transports a Handler keeps (one per
// upload pod) when MaxTransports is zero.
const DefaultMaxTransports = 256

// errNoTLS: a Backend without its TLS configuration, or not https. The
// pod's credential is never sent over an unverified connection.
var errNoTLS = errors.New("the upload pod's backend has no TLS configuration or is not https")

// transportKey identifies an upload pod's transport: where it listens and
// the name its certificate must carry (bound to the claim's UID).
type transportKey struct{ url, serverName string }

// transports is a bounded, least-recently-used set of transports, one per
// upload pod, each trusting only that pod's certificate.
type transports struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *transportEntry, most recent first
	byKey map[transportKey]*list.Element
}

type transportEntry struct {
	key transportKey
	rt  *http.Transport
}

// get returns the transport of be, made from template (or the default
// template) on first use; the least recently used one is closed when the
// set is full.
func (ts *transports) get(be Backend, template *http.Transport) (*http.Transport, error) {
	u, err := url.Parse(be.URL)
	if err != nil || u.Scheme != "https" || be.TLS == nil {
		return nil, errNoTLS
	}
	key := transportKey{url: u.Scheme + "://" + u.Host, serverName: be.TLS.ServerName}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.byKey == nil {
		ts.byKey, ts.order = map[transportKey]*list.Element{}, list.New()
	}
	if el, ok := ts.byKey[key]; ok {
		ts.order.MoveToFront(el)
		return el.Value.(*transportEntry).rt, nil
	}
	rt := newTransport(template, be.TLS)
	ts.byKey[key] = ts.order.PushFront(&transportEntry{key: key, rt: rt})
	limit := ts.max
	if limit <= 0 {
		limit = DefaultMaxTransports
	}
	for ts.order.Len() > limit {
		el := ts.order.Back()
		e := ts.order.Remove(el).(*transportEntry)
		delete(ts.byKey, e.key)
		e.rt.CloseIdleConnections()
	}
	return rt, nil
}

// forget drops be's transport (after a failed connection, so that a pod
// re-created with a new certificate is dialled with the Locator's new
// configuration).
func (ts *transports) forget(be Backend) {
	u, err := url.Parse(be.URL)
	if err != nil || be.TLS == nil {
		return
	}
	key := transportKey{url: u.Scheme + "://" + u.Host, serverName: be.TLS.ServerName}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if el, ok := ts.byKey[key]; ok {
		ts.order.Remove(el)
		delete(ts.byKey, key)
		el.Value.(*transportEntry).rt.CloseIdleConnections()
	}
}

// len is the number of transports kept.
func (ts *transports) len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.byKey)
}

// newTransport clones template (or the default) with exactly cfg as its TLS
// configuration. No timeout bounds a response: an upload may take hours;
// dialling and the handshake are bounded.
func newTransport(template *http.Transport, cfg *tls.Config) *http.Transport {
	var rt *http.Transport
	if template != nil {
		rt = template.Clone()
	} else {
		rt = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	rt.Proxy = nil // the pod network, never an HTTP proxy
	c := cfg.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	rt.TLSClientConfig = c
	rt.ResponseHeaderTimeout = 0
	return rt
}
