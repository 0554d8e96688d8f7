// Package datapod holds the contract of data pods, the pods that move bytes
// into a claim: their names, labels and annotations (shared by the importer
// that creates them, the event source that watches them and the updater
// that deletes them) and pure builders of their objects.
package datapod

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Labels and annotations every data pod carries.
const (
	// LabelManagedBy is the standard label naming the tool that manages
	// an object; on data pods its value is ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on data pods.
	ManagedBy = "cdi-functions"
	// LabelKind says what a data pod does; its value is a Kind (KindImport).
	LabelKind = "cdi-functions.io/datapod"
	// LabelClaimUID is the UID of the claim a data pod fills.
	LabelClaimUID = "cdi-functions.io/claim-uid"
	// AnnotationClaimName is the name of the claim a data pod fills (same
	// namespace as the pod). An annotation, not a label: claim names may be
	// longer than a label value.
	AnnotationClaimName = "cdi-functions.io/claim-name"
)

// Kinds of data pods, the values of LabelKind.
const (
	// KindImport is a pod that imports an image from a URL into a claim.
	KindImport = "import"
	// KindUpload is a pod that receives an uploaded image into a claim.
	KindUpload = "upload"
)

// Selector is a label selector matching every data pod, whatever its kind
// (for informers that watch them).
const Selector = LabelManagedBy + "=" + ManagedBy + "," + LabelKind

// ImportPrefix starts the name of every import data pod.
const ImportPrefix = "importer-"

// UploadPrefix starts the name of every upload data pod.
const UploadPrefix = "cdi-upload-"

// maxNameLength bounds data pod names to a DNS label, so the pod's
// hostname is its name.
const maxNameLength = 63

// ImportPodName returns the deterministic name of the import data pod of
// the claim named claimName: "importer-<claim name>", or, when that is
// longer than 63 characters, its first 50 characters (without a trailing
// '-' or '.'), a '-' and 8 hex digits of the SHA-256 of the claim name, so
// that distinct long names stay distinct.
func ImportPodName(claimName string) string {
	return podName(ImportPrefix, claimName)
}

// UploadPodName is ImportPodName for the upload data pod:
// "cdi-upload-<claim name>", shortened the same way.
func UploadPodName(claimName string) string {
	return podName(UploadPrefix, claimName)
}

func podName(prefix, claimName string) string {
	name := prefix + claimName
	if len(name) <= maxNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(claimName))
	return strings.TrimRight(name[:50], "-.") + "-" + hex.EncodeToString(sum[:4])
}
