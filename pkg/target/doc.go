// Package target is where decoded image bytes land: a raw disk image file
// (written sparsely under a temporary name and renamed into place only when
// complete), a block device, or a directory tree extracted from an archive.
//
// Every target enforces its capacity while writing, so an image that does not
// fit fails early instead of filling the volume first.
package target
