package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const schemaDir = "../../docs/schemas"

// compiled is the published schema of VolumeRequestedPayload.
func compiled(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	path := filepath.Join(schemaDir, "volume.requested.v1.json")
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(path, doc))
	s, err := c.Compile(path)
	require.NoError(t, err, "the published schema compiles")
	return s, doc.(map[string]any)
}

// The schema describes exactly the Go type: the same properties at every
// level, and as required exactly the fields without omitempty.
func TestVolumeRequestSchemaMatchesTheGoType(t *testing.T) {
	_, doc := compiled(t)
	assert.Equal(t, VolumeRequested, doc["title"], "titled by the event type it is the data of")
	var walk func(path string, typ reflect.Type, schema map[string]any)
	walk = func(path string, typ reflect.Type, schema map[string]any) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		assert.Equal(t, false, schema["additionalProperties"], "%s: unknown fields are refused, as the requester does", path)
		props, _ := schema["properties"].(map[string]any)
		var names, required []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
			sub, ok := props[name].(map[string]any)
			if assert.True(t, ok, "%s.%s (Go %s) is in the schema", path, name, f.Name) {
				walk(path+"."+name, f.Type, sub)
			}
		}
		for name := range props {
			assert.Contains(t, names, name, "%s.%s of the schema is a Go field", path, name)
		}
		var got []string
		if r, ok := schema["required"].([]any); ok {
			for _, v := range r {
				got = append(got, v.(string))
			}
		}
		slices.Sort(got)
		slices.Sort(required)
		assert.Equal(t, required, got, "%s: required are the fields without omitempty", path)
	}
	walk("payload", reflect.TypeFor[VolumeRequestedPayload](), doc)
}

// Every published example is valid under the schema and decodes into the
// Go type with no unknown field.
func TestVolumeRequestExamples(t *testing.T) {
	s, _ := compiled(t)
	files, err := filepath.Glob(filepath.Join(schemaDir, "examples", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			require.NoError(t, err)
			assert.NoError(t, s.Validate(v))
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var p VolumeRequestedPayload
			require.NoError(t, dec.Decode(&p))
			assert.NotEmpty(t, p.Claim.Name)
		})
	}
}

func TestVolumeRequestSchemaRefuses(t *testing.T) {
	s, _ := compiled(t)
	for _, tt := range []struct{ name, doc string }{
		{"no source", `{"claim":{"namespace":"a","name":"b"},"size":"1Gi"}`},
		{"two sources", `{"claim":{"namespace":"a","name":"b"},"size":"1Gi","source":{"upload":{},"clone":{"namespace":"x","name":"y"}}}`},
		{"an empty source", `{"claim":{"namespace":"a","name":"b"},"size":"1Gi","source":{}}`},
		{"an unknown field", `{"claim":{"namespace":"a","name":"b"},"size":"1Gi","source":{"upload":{}},"sizee":"1"}`},
		{"a size that is no quantity", `{"claim":{"namespace":"a","name":"b"},"size":"ten gigs","source":{"upload":{}}}`},
		{"a file URL", `{"claim":{"namespace":"a","name":"b"},"size":"1Gi","source":{"import":{"endpoint":"file:///etc/passwd"}}}`},
		{"an unknown volume mode", `{"claim":{"namespace":"a","name":"b"},"size":"1Gi","volumeMode":"Tape","source":{"upload":{}}}`},
		{"no claim name", `{"claim":{"namespace":"a"},"size":"1Gi","source":{"upload":{}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.doc))
			require.NoError(t, err)
			assert.Error(t, s.Validate(v))
		})
	}
}
