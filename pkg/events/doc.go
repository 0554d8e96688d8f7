// Package events is the event catalogue of cdi-functions: the CloudEvent
// types, their versioned payloads, the attributes that name a claim
// (source, subject and the claimnamespace/claimname extensions that
// Triggers filter on) and deterministic ids, so that a resend of the same
// intent carries the same id and can be deduplicated.
//
// Every type is documented in docs/events.md.
package events
