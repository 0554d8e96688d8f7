package function

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
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
	// Metrics is the function's Prometheus registry: register the
	// function's own metrics here; /metrics serves it.
	Metrics *prometheus.Registry
}
