// Package podcred is how the upload proxy and upload data pods trust each
// other without the proxy reading any Secret in the users' namespaces.
//
// One Authority, kept in the Secret SecretName of the system namespace and
// created once by the uploader, holds a certificate authority and a MAC
// key. For each claim the uploader derives what the claim's upload pod
// needs (Authority.Issue): a bearer credential (the MAC of the claim's
// UID) and a serving certificate for ServerName(claim UID), signed by the
// authority. It puts them in the pod's own Secret in the claim's
// namespace. The proxy, given a token for a claim, computes the same
// credential and dials the pod expecting a certificate for that claim's
// ServerName (Authority.Client). So a compromised upload pod knows only
// its own credential and holds only its own certificate: it cannot pose
// as another claim's pod to the proxy, nor learn what opens another pod.
package podcred
