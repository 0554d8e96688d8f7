// Package reason names every reason cdi-functions gives for a change of a
// claim's work: the value of the cdi.kubevirt.io/storage.pod.reason
// annotation, of the reason in DataPodPhase events and of the Kubernetes
// Events recorded on claims. Each is defined once here, so the data mover,
// the event source, the functions and the docs use the same words.
//
// Reasons are CamelCase words, the Kubernetes convention; those that start
// with "Err" are warnings (CDI's names).
package reason

// Outcomes of the work.
const (
	// ImportSucceeded: the import finished; the claim holds the image.
	ImportSucceeded = "ImportSucceeded"
	// ImportFailed: the import ended with a failure retrying cannot fix
	// (the data mover's error is the message).
	ImportFailed = "ErrImportFailed"
	// ImportRetrying: the data pod failed in a way that may pass when
	// tried again; it restarts and resumes.
	ImportRetrying = "ImportRetrying"
	// UploadSucceeded: the upload finished; the claim holds the image.
	UploadSucceeded = "UploadSucceeded"
	// UploadFailed: the upload ended with a failure retrying cannot fix.
	UploadFailed = "ErrUploadFailed"
	// UploadRetrying: the upload pod failed in a way that may pass; it
	// restarts and waits for the upload again.
	UploadRetrying = "UploadRetrying"
	// CloneSucceeded: the clone finished; the claim holds a verified
	// copy of the source.
	CloneSucceeded = "CloneSucceeded"
	// CloneFailed: the clone ended with a failure retrying cannot fix.
	CloneFailed = "ErrCloneFailed"
	// CloneRetrying: a clone data pod failed in a way that may pass; it
	// restarts and the clone resumes or starts over.
	CloneRetrying = "CloneRetrying"
	// TooManyRestarts: the data pod restarted more often than allowed
	// without finishing; the work ends Failed with its last error.
	TooManyRestarts = "ErrTooManyRestarts"
)

// States of the data pod, derived from its status by the event source
// (the kubelet's and the scheduler's own reasons, such as Unschedulable,
// ErrImagePull, CrashLoopBackOff, OOMKilled or Evicted, are passed on as
// they are).
const (
	// PodScheduled: the data pod was bound to a node.
	PodScheduled = "Scheduled"
	// PodFailed: the data pod failed and the kubelet said nothing more.
	PodFailed = "PodFailed"
	// PodUnknown: the data pod's node stopped reporting its state.
	PodUnknown = "PodUnknown"
)

// Refusals of the importer and the uploader: what keeps an import (or an
// upload pod) from starting. Invalid
// requests end the work Failed; the others leave it Pending and the import
// starts by itself once the cause is gone.
const (
	// InvalidRequest: a request annotation is invalid (the message names
	// the annotation and the problem). Final.
	InvalidRequest = "ErrInvalidRequest"
	// MissingSecret: the Secret the claim names does not exist (yet).
	MissingSecret = "ErrMissingSecret"
	// MissingCertConfigMap: the CA ConfigMap the claim names does not
	// exist (yet).
	MissingCertConfigMap = "ErrMissingCertConfigMap"
	// CreatePod: the API server refused the data pod for a reason that
	// may pass later (a quota, a LimitRange, Pod Security admission); the
	// message is the API server's. Retried with backoff.
	CreatePod = "ErrCreatePod"
	// InvalidPod: the API server found the data pod invalid (a
	// configuration error of the importer). Final.
	InvalidPod = "ErrInvalidPod"
	// PodNameConflict: a pod that is not a data pod holds the data pod's
	// name.
	PodNameConflict = "ErrPodNameConflict"
	// CloneNotAuthorized: the clone's authorization (the admission
	// webhook's signed grant) is missing or does not match the claim: the
	// annotation was added while the webhook was down, or edited, or
	// copied from another claim. Final.
	CloneNotAuthorized = "ErrCloneNotAuthorized"
	// CloneSourceNotReady: the source claim does not exist (yet), is
	// being deleted, or has not finished its own import, upload or clone;
	// the clone starts by itself once it has.
	CloneSourceNotReady = "CloneSourceNotReady"
	// CloneTargetTooSmall: the target claim is smaller than the source.
	// Final.
	CloneTargetTooSmall = "ErrCloneTargetTooSmall"
)

// Final reports whether a refusal of the importer ends the work: no later
// event can fix it without the user changing the claim (or the operator
// the importer's configuration).
func Final(r string) bool {
	return r == InvalidRequest || r == InvalidPod || r == CloneNotAuthorized || r == CloneTargetTooSmall
}

// Refusal reports whether r is one of the importer's refusals.
func Refusal(r string) bool {
	switch r {
	case InvalidRequest, MissingSecret, MissingCertConfigMap, CreatePod, InvalidPod, PodNameConflict,
		CloneNotAuthorized, CloneSourceNotReady, CloneTargetTooSmall:
		return true
	}
	return false
}

// Outcomes are the reasons of one kind of work.
type Outcomes struct {
	// Succeeded, Failed and Retrying are the reasons of the work's end
	// and of a failure that may pass.
	Succeeded, Failed, Retrying string
	// Done is the default message of a success (CDI's wording).
	Done string
}

// ImportOutcomes, UploadOutcomes and CloneOutcomes are the reasons of
// imports, uploads and clones.
var (
	ImportOutcomes = Outcomes{Succeeded: ImportSucceeded, Failed: ImportFailed, Retrying: ImportRetrying, Done: "Import Complete"}
	UploadOutcomes = Outcomes{Succeeded: UploadSucceeded, Failed: UploadFailed, Retrying: UploadRetrying, Done: "Upload Complete"}
	CloneOutcomes  = Outcomes{Succeeded: CloneSucceeded, Failed: CloneFailed, Retrying: CloneRetrying, Done: "Clone Complete"}
)
