// Package uploadproxy is the upload proxy's HTTP handler: the endpoint of
// the 2018 post's `curl -H "Authorization: Bearer $TOKEN" --data-binary
// @disk.qcow2 https://NODE:31001/v1alpha1/upload`. It verifies the token
// (pkg/uploadtoken), finds the claim's upload data pod through a Locator,
// and streams the body to it without buffering, over TLS with exactly the
// pod's configuration (Backend.TLS) and the credential unique to that pod,
// relaying the pod's answer.
//
// Endpoints, under /v1alpha1/ and /v1beta1/: upload, upload-form (answered
// when imported), upload-async, upload-form-async (answered once stored),
// and the resumable upload-tus (tus 1.0, tus.go; the upload is named by the
// claim's UID). docs/upload.md is the user's guide.
//
// Answers: 200 stored; 400 not an image (the pod's reason); 401 no, a
// malformed, tampered or expired token, or one for an earlier claim of the
// name; 404 no upload target, or a path
// that is not an upload endpoint; 409 already uploaded; 413 larger than the
// claim; 502 the pod refused the proxy or has no TLS configuration; 503 the
// upload pod is not ready or busy (with Retry-After).
package uploadproxy
