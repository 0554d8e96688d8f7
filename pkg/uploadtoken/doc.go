// Package uploadtoken issues and verifies the tokens that authorize one
// upload into one claim: the status.token of an UploadTokenRequest, which
// `curl -H "Authorization: Bearer $TOKEN"` presents to the upload proxy.
//
// A token is a JWT signed with ES256 (github.com/golang-jwt/jwt/v5). Its
// header names the signing key (kid, the key's RFC 7638 thumbprint), so keys
// can be rotated: the Secret holding them may carry several, one of which
// signs. A token lives five minutes (verification allows 30 s of clock
// skew) and is scoped to an operation, a namespace, a claim and that claim's
// UID: it opens nothing else, not even a claim re-created under the same
// name. Nothing is stored: a token is verified from its signature alone.
package uploadtoken
