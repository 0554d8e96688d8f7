// Package target is where decoded image bytes land: a raw disk image file
// (written sparsely under a temporary name and renamed into place only when
// complete), a block device, a directory tree extracted from an archive, or
// a scratch spool (a sparse, bounded file an image is copied to so that it
// can be read at random).
//
// Every target enforces its capacity while writing, so an image that does not
// fit fails early instead of filling the volume first. What an interrupted
// import left behind (partial images, staging directories, spools) is removed
// by the next import in the same place.
package target
