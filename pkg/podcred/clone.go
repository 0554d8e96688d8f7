package podcred

import (
	"crypto/tls"
	"errors"
	"time"
)

// The clone variant: the same kind of authority, kept in its own Secret
// (the upload proxy, which reads the upload authority, must not be able
// to pose as a clone source), derives for each clone — named by the UID
// of its target claim — a bearer credential the source data pod presents
// and a serving certificate the target data pod listens with. The source
// pod gets the credential and the authority's certificate only.

// CloneSecretName is the Secret, in the system namespace, holding the
// clone authority.
const CloneSecretName = "cdi-clone-authority"

// cloneServerNameSuffix ends every clone target's server name.
const cloneServerNameSuffix = ".clone.cdi-functions.invalid"

// CloneServerName is the TLS server name of the target data pod of the
// clone into the claim with UID targetUID.
func CloneServerName(targetUID string) string { return targetUID + cloneServerNameSuffix }

// CloneCredential is the bearer credential of the clone into the claim
// with UID targetUID: unique to the clone, and not an upload credential
// of any claim (another derivation label).
func (a *Authority) CloneCredential(targetUID string) string {
	return a.derive("cdi-functions clone credential", targetUID)
}

// IssueClone makes the credential of the clone into the claim with UID
// targetUID: the bearer credential and a fresh serving certificate for
// CloneServerName(targetUID), valid from now, for the target data pod.
func (a *Authority) IssueClone(targetUID string, now time.Time) (PodCredential, error) {
	if targetUID == "" {
		return PodCredential{}, errors.New("no target claim UID")
	}
	return a.issue(a.CloneCredential(targetUID), CloneServerName(targetUID), now)
}

// CACertPEM is the authority's certificate, which the clone source pod
// trusts.
func (a *Authority) CACertPEM() []byte { return append([]byte(nil), a.caPEM...) }

// CloneClient is the TLS configuration to dial the target data pod of the
// clone into the claim with UID targetUID.
func (a *Authority) CloneClient(targetUID string) *tls.Config {
	return a.client(CloneServerName(targetUID))
}
