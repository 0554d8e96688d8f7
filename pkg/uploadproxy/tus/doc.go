// Package tus is the part of the tus 1.0 resumable upload protocol
// (https://tus.io/protocols/resumable-upload) that the upload proxy and the
// upload data pod share: header names, the extensions served, and strict
// parsers of the headers a client sends (Upload-Offset, Upload-Length,
// Upload-Metadata, Upload-Checksum), fuzzed.
//
// Served: the core protocol (HEAD, PATCH, OPTIONS) and the extensions
// creation (POST) and checksum (sha1, sha256, md5). Not served:
// creation-defer-length, creation-with-upload, expiration, termination and
// concatenation.
package tus
