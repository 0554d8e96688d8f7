package function

import (
	"go.opentelemetry.io/otel/metric"
	"k8s.io/client-go/kubernetes"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
)

// Env is what Main gives a function when it builds its Handler.
type Env struct {
	// Name is the function's name ("importer").
	Name string
	// Kube is a Kubernetes client (in-cluster, or from --kubeconfig).
	Kube kubernetes.Interface
	// Namespace is the system namespace ($SYSTEM_NAMESPACE).
	Namespace string
	// Getenv reads the environment.
	Getenv func(string) string
	// Meter is the function's meter: its own metrics are exported with
	// the runtime's (Prometheus on :9090, as every component).
	Meter metric.Meter
	// Token is the function's own credentials for the events it sends
	// (auth.FileToken.Token).
	Token func() (string, error)
	// SinkToken is the token for the Broker in front of the function's
	// sink when Knative's OIDC is on (auth.SinkTokenFile, mounted by a
	// SinkBinding); nil otherwise.
	SinkToken func() (string, error)
}

// ComponentUser is the user name of one of cdi-functions' components
// (auth.EventSourceAccount, …): its ServiceAccount in the system namespace.
func (e Env) ComponentUser(account string) string {
	return auth.ServiceAccountUser(e.Namespace, account)
}
