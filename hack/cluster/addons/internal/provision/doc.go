// Package provision is the local cluster's dynamic volume provisioner: for
// each claim of its StorageClasses it creates a local PersistentVolume on the
// one node, a directory for Filesystem claims and a loop device over a sparse
// file for Block claims, and removes both when the volume is released.
//
// Local PersistentVolumes are what bare-metal clusters use, and kubelet
// applies a pod's fsGroup to them, so data pods that run as a non-root user
// (the restricted Pod Security level) can write their volumes. The decisions
// (which claim needs a volume, which volume is to be removed, what the
// PersistentVolume looks like) are pure functions of the listed objects; the
// Backing does the host side.
package provision
