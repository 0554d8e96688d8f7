// Package xz decompresses the .xz container format for the image pipeline.
//
// NewReader returns the decompressed content of one or more concatenated xz
// streams (with optional stream padding between and after them), verifying
// every block's integrity check and each stream's index. Anything else in the
// input (a legacy .lzma file, trailing garbage, a truncated or corrupt stream)
// is an error matching one of the sentinel errors of this package, never a
// silent short read.
//
// Two implementations share one behaviour:
//
//   - With cgo (the data mover's build), a binding to liblzma's multi-threaded
//     stream decoder. Files written by `xz -T` (several blocks with sizes in
//     their headers) decode in parallel; memory is bounded by Options.MemLimit,
//     and liblzma drops to fewer threads rather than exceed it. The binding
//     needs liblzma's headers and library at build time (Debian: liblzma-dev).
//     A fully static binary, for a base image without a C library, links
//     liblzma.a: CGO_ENABLED=1 go build -tags netgo,osusergo
//     -ldflags '-linkmode external -extldflags "-static"' (TestStaticBinary
//     checks it).
//   - Without cgo, a pure-Go decoder (github.com/therootcompany/xz):
//     single-threaded, 1.3–1.9× the time of `xz -dc` (ulikunitz/xz measured
//     2.2–8× slower than liblzma).
//
// Implementation names the one compiled in, for logs and benchmarks.
package xz
