// Package qcow2 converts qcow2 disk images to raw, byte for byte as
// `qemu-img convert -O raw` would, reading the image through range requests.
//
// Open reads the header, the active L1 table and every referenced L2 table
// (range reads, several in parallel) and validates them. Convert then turns
// the tables into a plan of data extents sorted by their offset in the image
// file and reads the data with as few sequential streams as possible (one for
// an image made by qemu-img): small gaps are read through, a new stream is
// opened only across large gaps. Compressed clusters (deflate and zstd) are
// decompressed on a worker pool while the stream continues.
//
// Memory stays bounded whatever the image size (a few tens of MiB): when the
// plan would hold more than 2^20 extents (24 MiB), Convert works through the
// file in windows of host offsets, re-reading the L2 tables that point into
// each window; the data is still read in ascending file order.
//
// Supported: versions 2 and 3, cluster sizes 512 B to 2 MiB, zero clusters
// (plain and preallocated), compressed clusters, extended L2 entries
// (subclusters). Refused with a sentinel error (see errors.go): backing
// files, encryption, external data files, unknown incompatible features,
// images marked corrupt, malformed headers and tables, truncated files.
// Internal snapshots are ignored: only the active L1 table is read, and the
// clusters and L2 tables it shares with snapshots (refcount > 1) are read
// like any other. ParseHeader validates a header before the rest of the
// file is available (to refuse or size a stream before spooling it). Header
// extensions are not parsed: what they describe is either refused through
// header fields (backing file, encryption, external data file) or does not
// change the guest data (bitmaps, feature names).
//
// Where qemu is lenient the reader is stricter, and says so with an error:
// data clusters beyond the end of the file (qemu reads zeros there), two
// guest clusters sharing host data or an L2 table (refcount corruption), a
// deflate stream that would produce more than one cluster (qemu truncates
// it).
//
// The dirty bit (lazy refcounts left unflushed) is accepted: it only means
// the refcounts may be stale, and a reader does not use refcounts (qemu opens
// such images read-only without repair too). The corrupt bit is refused,
// although qemu would read such an image read-only: qemu sets it after it
// detected inconsistent metadata, so the guest data may be damaged, and an
// importer should fail loudly rather than produce a disk that may be wrong.
package qcow2
