package events

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// SinkEnv is the environment variable of the Knative SinkBinding
// convention: when set, every event goes to that one URL (a Broker).
const SinkEnv = "K_SINK"

// RoutingConfigMap is the name of the routing table ConfigMap used
// without Knative: each data key is an event type, its value the URL of
// the function that consumes it.
const RoutingConfigMap = "config-routing"

// Routes decides where each event type is sent.
type Routes struct {
	// Sink, if set, receives every event (a Knative Broker routes them on).
	Sink string
	// ByType maps an event type to its consumer's URL.
	ByType map[string]string
}

// ParseRoutes reads a routing table (ConfigMap data). Keys that are not
// event types of the catalogue are errors, so a typo cannot silently drop
// events; keys starting with "_" are comments (the "_example" convention).
func ParseRoutes(data map[string]string) (Routes, error) {
	r := Routes{ByType: map[string]string{}}
	for k, v := range data {
		if strings.HasPrefix(k, "_") {
			continue
		}
		if !Known(k) {
			return Routes{}, fmt.Errorf("routing table: %q is not an event type of the catalogue", k)
		}
		u, err := url.Parse(strings.TrimSpace(v))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Routes{}, fmt.Errorf("routing table: %s: %q is not an http(s) URL", k, v)
		}
		r.ByType[k] = u.String()
	}
	return r, nil
}

// URL returns where to send an event of type typ.
func (r Routes) URL(typ string) (string, error) {
	if r.Sink != "" {
		return r.Sink, nil
	}
	if u, ok := r.ByType[typ]; ok {
		return u, nil
	}
	return "", fmt.Errorf("no route for event type %s (set %s or add it to the %s ConfigMap)", typ, SinkEnv, RoutingConfigMap)
}

// String lists the routes, for logs.
func (r Routes) String() string {
	if r.Sink != "" {
		return "all events -> " + r.Sink
	}
	keys := make([]string, 0, len(r.ByType))
	for k := range r.ByType {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " -> " + r.ByType[k]
	}
	return strings.Join(parts, ", ")
}
