package events

import (
	"errors"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// Claim names the PersistentVolumeClaim an event is about. The UID tells
// a claim from a later one of the same name.
type Claim struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Check reports every part of the claim's name that is missing; an event
// naming its claim only in part is malformed.
func (c Claim) Check() error {
	var missing []error
	if c.Namespace == "" {
		missing = append(missing, errors.New("no claim namespace"))
	}
	if c.Name == "" {
		missing = append(missing, errors.New("no claim name"))
	}
	if c.UID == "" {
		missing = append(missing, errors.New("no claim uid"))
	}
	return errors.Join(missing...)
}

// Pod names a data pod.
type Pod struct {
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
}

// ImportRequestedPayload is the data of an ImportRequested event.
type ImportRequestedPayload struct {
	Claim   Claim                     `json:"claim"`
	Request annotations.ImportRequest `json:"request"`
}

// UploadRequestedPayload is the data of an UploadRequested event.
type UploadRequestedPayload struct {
	Claim   Claim                     `json:"claim"`
	Request annotations.UploadRequest `json:"request"`
}

// CloneRequestedPayload is the data of a CloneRequested event.
type CloneRequestedPayload struct {
	// Claim is the target claim.
	Claim Claim `json:"claim"`
	// Source is the claim to clone, as the CloneRequest annotation names
	// it.
	Source annotations.CloneSource `json:"source"`
}

// DataPodProgressPayload is the data of a DataPodProgress event.
type DataPodProgressPayload struct {
	Claim Claim `json:"claim"`
	Pod   Pod   `json:"pod"`
	// Stage is the data mover's phase (Connecting, Writing, Converting…).
	Stage string `json:"stage"`
	// Done and Total are bytes; Total is -1 when unknown.
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

// Phases of a data pod, as DataPodPhasePayload.Phase.
const (
	PodPending   = "Pending"
	PodScheduled = "Scheduled"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
)

// DataPodPhasePayload is the data of a DataPodPhase event.
type DataPodPhasePayload struct {
	Claim Claim `json:"claim"`
	Pod   Pod   `json:"pod"`
	// Phase is one of PodPending, PodScheduled, PodRunning, PodSucceeded,
	// PodFailed.
	Phase string `json:"phase"`
	// Reason is a machine-readable word (e.g. ImportSucceeded,
	// ErrImportFailed, OOMKilled, Unschedulable, Evicted).
	Reason string `json:"reason,omitempty"`
	// Message is the human detail: on failure, the data mover's error.
	Message string `json:"message,omitempty"`
	// Restarts counts restarts of the data pod's container.
	Restarts int32 `json:"restarts,omitempty"`
	// Permanent marks a failure that retrying cannot fix (a bad URL, a
	// corrupt image): the work ends Failed.
	Permanent bool `json:"permanent,omitempty"`
	// Ready, for an upload pod, tells whether it listens for the upload
	// (its Ready condition); nil for other pods.
	Ready *bool `json:"ready,omitempty"`
}

// ClaimDeletingPayload is the data of a ClaimDeleting event.
type ClaimDeletingPayload struct {
	Claim Claim `json:"claim"`
	// Pods are the claim's data pods that are not being deleted yet.
	Pods []Pod `json:"pods"`
}
