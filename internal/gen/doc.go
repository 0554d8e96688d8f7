// Package gen builds the Kubernetes objects of cdi-functions' tests, in the
// cert-manager style: Claim("golden", WithEndpoint(url), WithPhase("Running"))
// and DataPod(claim, Running()). Builders follow the contracts of pkg/ (the
// data pod labels, annotations and owner reference of pkg/datapod), so a
// test's objects look like the real ones.
package gen
