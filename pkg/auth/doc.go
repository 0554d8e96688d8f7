// Package auth tells who sent an event and carries the sender's own
// credentials.
//
// Every sender of cdi-functions (the event source, the functions, the data
// pods) presents a short-lived projected ServiceAccount token whose
// audience is this system's own (Audience), never the API server's, as a
// bearer token. A receiver checks it with a TokenReview (Reviewer, cached)
// and gets the Identity of the sender: its user, its ServiceAccount and,
// for a token bound to a pod (every projected token is), the pod's name and
// UID. What the identity may ask for is the receiver's decision
// (docs/security.md has the rules and the threat model).
//
// Failures wrap ErrUnauthenticated (answered 401) or ErrForbidden (403).
package auth
