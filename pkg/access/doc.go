// Package access asks the API server what a user may do, with
// SubjectAccessReviews made with that user's own identity: what the clone
// webhook asks of whoever creates a clone, and what the requester asks of
// the sender of an external request before it creates a claim on that
// sender's behalf.
package access
