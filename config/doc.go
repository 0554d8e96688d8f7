// Package config holds the manifests of cdi-functions (`ko apply -f
// config/`, and the Knative profile in config/knative/) and the tests that
// keep them consistent with the code.
package config
