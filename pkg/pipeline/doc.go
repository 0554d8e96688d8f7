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
//	                                  ├─ raw/iso ──► sparse copy, padded to whole 512-byte sectors
//	                                  └─ html, vmdk, vhdx, … ──► refused, naming what it is
//
// Nothing becomes visible in the target (no disk.img, no extracted file)
// until the whole source was read, decoded and verified.
//
// A qcow2 image spooled to scratch space is checked first (its header: a
// backing file or a virtual size larger than the target is refused before
// anything is spooled), and its spool is sparse and bounded by its virtual
// size (or the target's size) plus room for metadata, so that a small
// compressed stream cannot fill the scratch space. What an interrupted
// import left in the target or the scratch space is removed at the start.
package pipeline
