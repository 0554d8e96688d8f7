// Package sourcetest provides real loopback peers for tests of code that
// reads image sources:
//
//   - Server, an HTTP(S) server that serves one object and injects the
//     faults met in the field: no range support, connections dropped
//     mid-body, lying Content-Length, bodies cut short, stalls, 503s with
//     Retry-After, refused HEAD, basic auth, redirects to another host,
//     and TLS with its own CA (NewCA). It logs every request, so a test
//     can prove where each resume started.
//   - S3, a versitygw S3 gateway started on 127.0.0.1 over a temp dir
//     (StartS3); a Server with Config.Handler = S3.Proxy() puts faults in
//     front of it.
//   - WriteSecretDir, a credentials Secret as the data mover sees it.
//
// Everything listens on 127.0.0.0/8 only and is stopped by t.Cleanup.
// The default egress policy of pkg/source refuses loopback: tests allow it
// (source.Options.Egress = egress.Default().Allow(127.0.0.0/8), or
// DATAMOVER_EGRESS_ALLOW=127.0.0.0/8 for the data mover).
package sourcetest
