package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// FuzzValidate: any payload either is refused with reasons or becomes a
// claim, never a panic; a valid one always names its claim and size.
func FuzzValidate(f *testing.F) {
	examples, _ := filepath.Glob("../../docs/schemas/examples/*.json")
	for _, e := range examples {
		b, err := os.ReadFile(e)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"claim":{"namespace":"a","name":"b"},"size":"-1","source":{"clone":{"namespace":"x","name":"../y"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p events.VolumeRequestedPayload
		if json.Unmarshal(b, &p) != nil {
			return
		}
		r := request{ID: "id", Source: "/fuzz", Sender: "u", Payload: p}
		if validate(r) != nil {
			return
		}
		c := claimFor(r)
		if c.Name != p.Claim.Name || c.Namespace != p.Claim.Namespace || c.Spec.Resources.Requests.Storage().Sign() <= 0 {
			t.Fatalf("valid request %s made claim %s/%s of %v", b, c.Namespace, c.Name, c.Spec.Resources.Requests)
		}
		if sameRequest(c, r) != nil {
			t.Fatalf("the claim of a request is not that request's: %v", sameRequest(c, r))
		}
	})
}
