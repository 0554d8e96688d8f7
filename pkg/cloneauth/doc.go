// Package cloneauth is the clone authorization: a grant, signed by the
// admission webhook (webhook/) when the user who creates or edits a clone
// claim may read the claim's source, and verified by the cloner before it
// moves a byte.
//
// A grant names the target claim (namespace, name and, when it is known,
// UID), the source the claim's k8s.io/CloneRequest asks for, the user it was
// made for and when. It travels on the claim itself, in the annotation
// cdi-functions.io/clone-authorization, as a compact token:
//
//	v1.<base64url(JSON grant)>.<base64url(Ed25519 signature of "v1.<payload>")>
//
// The webhook holds the private key (the Secret cdi-clone-signing in the
// system namespace); the cloner needs only the public key (the ConfigMap
// cdi-clone-verification), so a compromised cloner cannot mint grants.
//
// A grant is bound to its claim: on UPDATE by the claim's UID; on CREATE,
// when the API server has not assigned a UID yet, by the claim's creation
// time, which must lie within a minute of the grant's. A grant copied to
// another claim, or onto a later claim of the same name, does not verify.
package cloneauth
