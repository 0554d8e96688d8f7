package config

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// object is the part of a manifest the tests read.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
	Spec struct {
		Broker string `json:"broker"`
		Filter struct {
			Attributes map[string]string `json:"attributes"`
		} `json:"filter"`
		Subscriber struct {
			Ref struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"ref"`
		} `json:"subscriber"`
	} `json:"spec"`
}

// manifests reads every object of the YAML files in dir (not recursive,
// like `ko apply -f dir`).
func manifests(t *testing.T, dir string) []object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, doc := range bytes.Split(b, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			var o object
			require.NoError(t, yaml.Unmarshal(doc, &o), f)
			if o.Kind != "" {
				out = append(out, o)
			}
		}
	}
	return out
}

// function names the consumer behind a routing URL: the Service
// cdi-importer.cdi.svc.cluster.local is the function "importer".
func function(t *testing.T, rawURL string) string {
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	svc, _, _ := strings.Cut(u.Hostname(), ".")
	return strings.TrimPrefix(svc, "cdi-")
}

func TestRoutingTableCoversTheCatalogue(t *testing.T) {
	var table map[string]string
	for _, o := range manifests(t, ".") {
		if o.Kind == "ConfigMap" && o.Metadata.Name == events.RoutingConfigMap {
			table = o.Data
		}
	}
	require.NotNil(t, table, "no %s ConfigMap in config/", events.RoutingConfigMap)
	routes, err := events.ParseRoutes(table)
	require.NoError(t, err, "the routing table must parse as the event source parses it")
	for _, typ := range events.Types {
		_, err := routes.URL(typ)
		assert.NoError(t, err, "every event type of the catalogue has a route")
	}
}

func TestKnativeProfileMatchesRoutingTable(t *testing.T) {
	var table map[string]string
	for _, o := range manifests(t, ".") {
		if o.Kind == "ConfigMap" && o.Metadata.Name == events.RoutingConfigMap {
			table = o.Data
		}
	}
	profile := manifests(t, "knative")
	services := map[string]bool{} // the plain profile's: Triggers subscribe them
	for _, o := range manifests(t, ".") {
		if o.Kind == "Service" {
			services[o.Metadata.Name] = true
		}
	}
	brokers := map[string]bool{}
	triggers := map[string]string{} // event type -> subscriber
	for _, o := range profile {
		switch o.Kind {
		case "Broker":
			brokers[o.Metadata.Name] = true
		case "Trigger":
			typ := o.Spec.Filter.Attributes["type"]
			require.NotEmpty(t, typ, "trigger %s filters on type", o.Metadata.Name)
			_, dup := triggers[typ]
			require.False(t, dup, "two triggers for %s would deliver it twice", typ)
			assert.Equal(t, "Service", o.Spec.Subscriber.Ref.Kind, "trigger %s delivers to a Service", o.Metadata.Name)
			triggers[typ] = o.Spec.Subscriber.Ref.Name
			assert.True(t, brokers[o.Spec.Broker] || o.Spec.Broker == "default", "trigger %s uses a broker of the profile", o.Metadata.Name)
		}
	}
	for _, typ := range events.Types {
		sub, ok := triggers[typ]
		if assert.True(t, ok, "a Trigger routes %s", typ) {
			assert.True(t, services[sub], "the subscriber %s of %s is a Service of config/", sub, typ)
			assert.Equal(t, "cdi-"+function(t, table[typ]), sub, "%s goes to the same function with and without Knative", typ)
		}
	}
	assert.Len(t, triggers, len(events.Types), "no Trigger for a type outside the catalogue")
}
