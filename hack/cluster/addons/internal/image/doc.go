// Package image builds small OCI images offline from local files (static
// binaries, a nonroot user database) and pushes them to the cluster's
// loopback registry. Builds are reproducible: the same files give the same
// digest, so a digest can be pinned across cluster restarts.
package image
