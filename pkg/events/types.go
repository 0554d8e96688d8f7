package events

import "slices"

// Prefix starts every event type of cdi-functions.
const Prefix = "com.github.cdi-functions."

// The event types. The suffix is the payload's version: a change that is
// not backwards compatible gets a new type.
const (
	// ImportRequested: a claim asks for an import that is not finished.
	// Emitted by the event source, consumed by the importer. Payload:
	// ImportRequested.
	ImportRequested = Prefix + "import.requested.v1"
	// UploadRequested: a claim is an upload target whose upload is not
	// finished and has no live upload pod. Emitted by the event source,
	// consumed by the uploader. Payload: UploadRequested.
	UploadRequested = Prefix + "upload.requested.v1"
	// CloneRequested: a claim asks to be a clone of another claim
	// (k8s.io/CloneRequest) and its clone is not finished. Emitted by the
	// event source while that lasts (with backoff: the cloner re-derives
	// what is missing, the source pod of an interrupted clone included),
	// consumed by the cloner. Payload: CloneRequested.
	CloneRequested = Prefix + "clone.requested.v1"
	// DataPodProgress: a data pod moved bytes. Emitted by the data mover,
	// consumed by the updater. Payload: DataPodProgress.
	DataPodProgress = Prefix + "datapod.progress.v1"
	// DataPodPhase: a data pod changed phase (scheduled, running,
	// succeeded, failed). Emitted by the event source (from pod status) and
	// by the data mover (its own result), consumed by the updater.
	// Payload: DataPodPhase.
	DataPodPhase = Prefix + "datapod.phase.v1"
	// ClaimDeleting: a claim that still has data pods is being deleted;
	// its data pods must go so that the claim can. Emitted by the event
	// source, consumed by the updater. Payload: ClaimDeleting.
	ClaimDeleting = Prefix + "claim.deleting.v1"
)

// Types lists every event type, for routing tables and their tests,
// that functions consume (the replies to external requests, ReplyTypes,
// are not routed to any).
var Types = []string{ImportRequested, UploadRequested, CloneRequested, DataPodProgress, DataPodPhase, ClaimDeleting, VolumeRequested}

// Known reports whether typ is an event type a function consumes.
func Known(typ string) bool {
	return slices.Contains(Types, typ)
}

// Extension attributes set on every event, for Trigger filters.
const (
	ExtensionNamespace = "claimnamespace"
	ExtensionName      = "claimname"
	ExtensionUID       = "claimuid"
)
