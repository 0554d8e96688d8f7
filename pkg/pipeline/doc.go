// Package pipeline runs an import: it reads an image from a source, peels
// compression and archive layers off it (detected by content), converts
// qcow2 to raw and writes the result sparsely to a target, verifying the
// source checksum before anything is published.
//
// The shape of a run:
//
//	source ──► count/hash ──► detect ─┬─ gzip/xz/zstd ──► detect (again, bounded depth)
//	                                  ├─ tar ──► one disk image (kubevirt) | extracted tree (archive)
//	                                  ├─ qcow2 ──► in place over range requests | spooled to scratch
//	                                  └─ raw/iso ──► sparse copy
//
// Nothing becomes visible in the target (no disk.img, no extracted file)
// until the whole source was read, decoded and verified.
package pipeline
