// Package clonestream is the wire format of a clone, from the clone source
// data pod to the clone target data pod, over one TLS connection, and the
// two ends that speak it: Source reads a claim read-only and sends it,
// Target receives it, verifies it and only then publishes it.
//
// # Version 1
//
// All integers are big-endian. The source connects (the target listens).
//
//	source → target, once per connection:
//	  hello   "CDICLONE" | version u16 (1) | credential length u16 (1..1024) | credential
//	  header  stream id [16] | kind u8 | flags u8 (0) | size u64 | entries u64
//	target → source:
//	  accept  status u8 | resume offset u64 | message length u16 (≤4096) | message
//	source → target, records until the trailer:
//	  'D' data     offset u64 | length u32 (1..ChunkSize) | encoding u8 | payload length u32 | payload
//	  'H' hole     offset u64 | length u64 (≥1): described, never sent; reads as zeros
//	  'E' entry    type u8 | mode u32 (perm bits) | size u64 | path length u16 | path | link length u16 | link
//	  'T' trailer  digest [32]
//	target → source:
//	  result  status u8 | message length u16 | message
//
// Kinds: 1 a disk image (disk.img of a Filesystem claim), 2 a raw block
// device, 3 a filesystem tree (a claim that holds an archive import). Size
// is the logical size of the image, or for a tree the total size of its
// regular files; entries is the number of tree entries (0 for images).
//
// Data and hole extents cover the logical content in order, without gaps
// or overlaps: each starts where the previous one ended and none passes
// the size (of the image, or of the tree entry they follow). A data extent
// never crosses a multiple of ChunkSize. Encoding 0 is the bytes as they
// are (payload length = length), 1 a zstd frame of them, smaller than the
// bytes (payload length < length) and decoding to exactly length bytes.
//
// A tree is a sequence of entries, parents before their children: for
// each, an 'E' record, then for a regular file (type 1) the extents of its
// content. Types: 1 regular file, 2 directory, 3 symbolic link (link is
// its target), 4 hard link (link is the path of an earlier regular file).
// Paths are clean, relative, slash-separated, at most 4096 bytes; size is
// 0 but for files. The target extracts trees with pkg/target's rules for
// archives (no absolute paths, no "..", links that stay inside, no names
// reserved for temporary files, bounded entries and size).
//
// Status 0 is OK; in an accept, 1 is a refusal retrying cannot fix (the
// message says why) and 2 an unauthenticated source; in a result, 1 is a
// failure. The resume offset of an accept is where the source continues:
// 0 for a new transfer (and for every tree), or for an image the
// multiple of ChunkSize up to which the target already holds the content
// of this stream id.
//
// # Digest
//
// The trailer carries Digest v1 of the logical content: SHA-256 over the
// string "cdi-clone-digest-v1\x00", kind u8, size u64 and entries u64, then
// for an image the CRC-32C (Castagnoli) u32 of every ChunkSize piece of the
// image, zeros of holes included (the last piece may be shorter); for a
// tree, for each entry its 'E' record (without the type byte 'E') followed,
// for a regular file, by the CRC-32C of every ChunkSize piece of its
// content. The target computes it over what it wrote and publishes only
// when it matches. Holes cost nothing: a whole hole piece has a known CRC.
//
// It is not a cryptographic commitment: the bytes on the wire are
// authenticated by TLS 1.3, and only an authenticated source can send
// them. It catches what TLS cannot: framing, ordering, decoding or
// writing bugs at either end. SHA-256 over every logical byte would cost
// more than the whole transfer (about 0.4 GB/s here).
package clonestream
