// Package e2e holds the acceptance tests that run against the local
// single-node cluster (hack/cluster, make cluster-up). They are built only
// with the e2e tag: make e2e runs them with KUBECONFIG and the ko environment
// of hack/ko-env.sh. Subpackage netwatch checks that no cluster component
// talks to anything outside loopback and the cluster's own networks;
// cmd/volcheck is the probe the tests run in pods, built with ko.
package e2e
