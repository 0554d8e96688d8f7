// Package kubetest checks what a unit test's code did to a fake API
// server, the way knative's TableTest does: every API call is expected,
// and an unexpected one fails the test.
package kubetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Describe is an API action in one line: "<verb> <resource>[/<subresource>]
// <namespace>/<name>" (the name of a create is the object's).
func Describe(a k8stesting.Action) string {
	res := a.GetResource().Resource
	if sub := a.GetSubresource(); sub != "" {
		res += "/" + sub
	}
	var name string
	switch a := a.(type) {
	case interface{ GetObject() runtime.Object }: // create, update
		if o, ok := a.GetObject().(interface{ GetName() string }); ok {
			name = o.GetName()
		}
	case interface{ GetName() string }: // get, delete, patch
		name = a.GetName()
	}
	ns := a.GetNamespace()
	if ns == "" && name == "" {
		return a.GetVerb() + " " + res
	}
	return fmt.Sprintf("%s %s %s/%s", a.GetVerb(), res, ns, name)
}

// Actions describes every action the fake saw, in order.
func Actions(kube *fake.Clientset) []string {
	var out []string
	for _, a := range kube.Actions() {
		out = append(out, Describe(a))
	}
	return out
}

// Expect fails the test unless the fake saw exactly want, in order (each
// as Describe writes it). Events may be named by prefix: "create events
// default/golden-pvc.*" matches any Event name starting with
// "golden-pvc.".
func Expect(t testing.TB, kube *fake.Clientset, want ...string) {
	t.Helper()
	got := Actions(kube)
	if len(got) == len(want) {
		ok := true
		for i := range got {
			ok = ok && match(want[i], got[i])
		}
		if ok {
			return
		}
	}
	assert.Fail(t, "unexpected API actions", "want:\n  %s\ngot:\n  %s", strings.Join(want, "\n  "), strings.Join(got, "\n  "))
}

func match(pattern, s string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, p)
	}
	return pattern == s
}

// Patches returns the bodies of the patches the fake saw, in order.
func Patches(kube *fake.Clientset) []string {
	var out []string
	for _, a := range kube.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			out = append(out, string(p.GetPatch()))
		}
	}
	return out
}
