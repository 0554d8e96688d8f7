package annotations

// Request annotations, set by users on a claim.
const (
	// Endpoint is the URL to import from: http(s)://… or s3://bucket/key.
	Endpoint = "cdi.kubevirt.io/storage.import.endpoint"
	// SecretName names a Secret in the claim's namespace with keys
	// accessKeyId and secretKey (basic auth or S3 keys).
	SecretName = "cdi.kubevirt.io/storage.import.secretName"
	// CertConfigMap names a ConfigMap in the claim's namespace holding CA
	// certificates to trust for the endpoint.
	CertConfigMap = "cdi.kubevirt.io/storage.import.certConfigMap"
	// ContentType is "kubevirt" (default, one disk image) or "archive".
	ContentType = "cdi.kubevirt.io/storage.contentType"
	// Checksum is the expected digest of the source, ALG:HEX (an extension
	// of CDI's contract).
	Checksum = "cdi.kubevirt.io/storage.import.checksum"
	// S3Endpoint is the endpoint of a non-AWS S3 store (e.g.
	// http://minio.example:9000) for an s3:// Endpoint; without it the
	// importer's default (its S3_ENDPOINT) or AWS is used. An extension of
	// CDI's contract.
	S3Endpoint = "cdi.kubevirt.io/storage.import.s3Endpoint"
	// UploadTarget (any value, "" in the 2018 post) makes the claim an
	// upload target: an UploadTokenRequest for it yields a token that lets
	// its owner stream an image in through the upload proxy.
	UploadTarget = "cdi.kubevirt.io/storage.upload.target"
	// RetainAfterCompletion "true" keeps the data pod after it finished.
	RetainAfterCompletion = "cdi.kubevirt.io/storage.pod.retainAfterCompletion"
	// CloneRequest "source-namespace/source-claim" makes the claim a clone
	// of another claim (the 2018 post's k8s.io/CloneRequest).
	CloneRequest = "k8s.io/CloneRequest"
)

// Clone annotations written by cdi-functions.
const (
	// CloneOf is "true" once the claim holds a verified clone of its
	// CloneRequest's source (the 2018 post's k8s.io/CloneOf). Written by
	// the updater.
	CloneOf = "k8s.io/CloneOf"
	// CloneAuthorization is the signed grant the admission webhook stamps
	// on a claim whose requester may read the CloneRequest's source
	// (pkg/cloneauth); the cloner clones nothing without a valid one.
	// Written only by the webhook: a user's value is refused at
	// admission.
	CloneAuthorization = "cdi-functions.io/clone-authorization"
)

// The external request that made a claim, written by the requester when
// it creates the claim (docs/events.md, "External triggers"). They tell
// the same request arriving again (the same claim) from another one (409),
// and where its replies go.
const (
	// RequestID is the id of the volume.requested event.
	RequestID = "cdi-functions.io/request-id"
	// RequestSource is that event's source.
	RequestSource = "cdi-functions.io/request-source"
	// RequestedBy is the user who sent it, as TokenReview vouched.
	RequestedBy = "cdi-functions.io/requested-by"
	// RequestDigest identifies what it asked (events.VolumeRequestedPayload.Digest).
	RequestDigest = "cdi-functions.io/request-digest"
	// ReplyTo is where its replies go without a Broker: an http(s) URL of
	// a Service in the claim's namespace (pkg/reply checks it again before
	// every send: anyone who may edit the claim may edit it).
	ReplyTo = "cdi-functions.io/reply-to"
)

// Status annotations, written by the updater.
const (
	// PodPhase is the phase of the work: Pending, Running, Succeeded or
	// Failed.
	PodPhase = "cdi.kubevirt.io/storage.pod.phase"
	// Progress is the share of the import done, e.g. "45.20%".
	Progress = "cdi.kubevirt.io/storage.import.progress"
	// PodRestarts counts restarts of the data pod's container.
	PodRestarts = "cdi.kubevirt.io/storage.pod.restarts"
	// Reason is a machine-readable word for the last status change.
	Reason = "cdi.kubevirt.io/storage.pod.reason"
	// Message is the human-readable detail of the last status change
	// (the data mover's error on failure).
	Message = "cdi.kubevirt.io/storage.pod.message"
	// PodReady is "true" while the claim's upload pod listens for the
	// upload, "false" otherwise (upload targets only).
	PodReady = "cdi.kubevirt.io/storage.pod.ready"
	// ImportPodName names the data pod importing into the claim.
	ImportPodName = "cdi.kubevirt.io/storage.import.importPodName"
)

// The values of PodPhase.
const (
	PhasePending   = "Pending"
	PhaseRunning   = "Running"
	PhaseSucceeded = "Succeeded"
	PhaseFailed    = "Failed"
)

// Content types.
const (
	ContentTypeKubeVirt = "kubevirt"
	ContentTypeArchive  = "archive"
)
