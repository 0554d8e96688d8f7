// Package image recognises disk image formats by their content (never by
// file name) and peels compression and archive layers off a stream until a
// disk image (raw, ISO or qcow2) remains.
//
// Content that is no disk image but is easily taken for a raw one is
// recognised too, so that it is refused rather than written as a disk: a
// web page served with status 200 (HTML, see IsHTML), tar archives without
// the ustar magic (V7 tar, GNU tar's volume label) and the empty archive
// GNU tar writes (zero blocks only).
package image
