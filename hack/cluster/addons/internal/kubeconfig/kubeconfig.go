// Package kubeconfig renders self-contained kubeconfig files (certificates
// embedded) for the local cluster's components and its administrator.
package kubeconfig

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"text/template"
)

// Config is one user's access to one cluster.
type Config struct {
	// Cluster names the cluster and the context.
	Cluster string
	// Server is the API server's URL.
	Server string
	// User names the credentials.
	User string
	// CA, Cert and Key are PEM-encoded: the cluster CA, the client certificate and its key.
	CA, Cert, Key []byte
}

var tmpl = template.Must(template.New("kubeconfig").Parse(`apiVersion: v1
kind: Config
clusters:
- name: {{.Cluster}}
  cluster:
    server: {{.Server}}
    certificate-authority-data: {{.CA}}
users:
- name: {{.User}}
  user:
    client-certificate-data: {{.Cert}}
    client-key-data: {{.Key}}
contexts:
- name: {{.Cluster}}
  context:
    cluster: {{.Cluster}}
    user: {{.User}}
current-context: {{.Cluster}}
`))

// Render returns the kubeconfig YAML for c.
func Render(c Config) ([]byte, error) {
	enc := base64.StdEncoding.EncodeToString
	var buf bytes.Buffer
	err := tmpl.Execute(&buf, map[string]string{
		"Cluster": c.Cluster, "Server": c.Server, "User": c.User,
		"CA": enc(c.CA), "Cert": enc(c.Cert), "Key": enc(c.Key),
	})
	if err != nil {
		return nil, fmt.Errorf("render kubeconfig for %s: %w", c.User, err)
	}
	return buf.Bytes(), nil
}

// Write renders c to path with mode 0600.
func Write(path string, c Config) error {
	b, err := Render(c)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
