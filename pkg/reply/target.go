package reply

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// clusterDomain is the cluster's DNS domain a reply Service may be named
// with.
const clusterDomain = "cluster.local"

// CheckTarget reports why raw cannot receive the replies about a claim of
// namespace: it must be an http(s) URL without credentials whose host is
// a Service of that same namespace (NAME.NAMESPACE.svc, optionally
// .cluster.local, optionally a port). Nothing outside the cluster, and no
// Service of another namespace, hears about a claim: the URL is written by
// whoever sent the request or may edit the claim.
func CheckTarget(raw, namespace string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("reply URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("reply URL %q: the scheme must be http or https", raw)
	}
	if u.User != nil {
		return fmt.Errorf("reply URL %q: credentials in the URL are not accepted", raw)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	svc, rest, _ := strings.Cut(host, ".")
	want := namespace + ".svc"
	if (rest != want && rest != want+"."+clusterDomain) || len(validation.IsDNS1035Label(svc)) > 0 {
		return fmt.Errorf("reply URL %q: the host must be a Service of namespace %s (SERVICE.%s.svc[.%s])", raw, namespace, namespace, clusterDomain)
	}
	return nil
}
