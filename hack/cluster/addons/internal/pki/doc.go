// Package pki issues the local cluster's certificate authority, the serving and
// client certificates of its components and the service-account signing key.
// Every key is ECDSA P-256: cheap to generate and to verify (an RSA service
// account key costs the API server about 1.5 s per start).
package pki
