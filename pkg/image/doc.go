// Package image recognises disk image formats by their content (never by
// file name) and peels compression and archive layers off a stream until a
// disk image (raw, ISO or qcow2) remains.
package image
