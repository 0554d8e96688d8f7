package events

import (
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// The external request and its replies: the one event an outside system
// (a CI pipeline, an image-build service, a GitOps controller) sends, and
// the events that tell it what became of its request. The request's JSON
// Schema is docs/schemas/volume.requested.v1.json (TestVolumeRequestSchema
// keeps the two in step).
const (
	// VolumeRequested: an external system asks for a claim that fills
	// itself by an import, an upload or a clone. Sent by anyone with a
	// token for this system's audience who may create claims in the
	// target namespace; consumed by the requester, which creates the
	// annotated claim. The event's id is the request id: the same id
	// again finds the same claim. Payload: VolumeRequestedPayload.
	VolumeRequested = Prefix + "volume.requested.v1"
	// VolumeAccepted: the requester made (or found) the claim of a
	// request. Payload: VolumeReplyPayload.
	VolumeAccepted = Prefix + "volume.accepted.v1"
	// VolumeRejected: the requester refused a request (invalid,
	// forbidden, or in conflict with an existing claim); Errors say why.
	// Payload: VolumeReplyPayload.
	VolumeRejected = Prefix + "volume.rejected.v1"
	// VolumeSucceeded: the claim of a request is filled (phase
	// Succeeded). Sent by the updater. Payload: VolumeReplyPayload.
	VolumeSucceeded = Prefix + "volume.succeeded.v1"
	// VolumeFailed: the claim of a request ended Failed; Reason and
	// Message say why. Sent by the updater. Payload: VolumeReplyPayload.
	VolumeFailed = Prefix + "volume.failed.v1"
)

// ReplyTypes lists the reply event types: they go to the requesting
// system, never to a function.
var ReplyTypes = []string{VolumeAccepted, VolumeRejected, VolumeSucceeded, VolumeFailed}

// ExtensionRequestID is the extension attribute carrying, on every reply,
// the id of the request it answers, for a sender's Trigger filter.
const ExtensionRequestID = "requestid"

// ClaimRef names a claim that may not exist yet.
type ClaimRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// VolumeRequestedPayload is the data of a VolumeRequested event: the
// claim to make and how it fills itself. Exactly one source is set.
type VolumeRequestedPayload struct {
	// Claim is the claim to create.
	Claim ClaimRef `json:"claim"`
	// Size is the claim's storage request, a Kubernetes quantity ("10Gi").
	Size string `json:"size"`
	// StorageClassName is the claim's storage class; the cluster's
	// default when empty.
	StorageClassName string `json:"storageClassName,omitempty"`
	// AccessModes default to ReadWriteOnce.
	AccessModes []string `json:"accessModes,omitempty"`
	// VolumeMode is Filesystem (the default) or Block.
	VolumeMode string `json:"volumeMode,omitempty"`
	// ContentType is kubevirt (a disk image, the default) or archive (a
	// tar archive unpacked into the volume); a clone copies its source.
	ContentType string `json:"contentType,omitempty"`
	// Source says where the bytes come from.
	Source VolumeSource `json:"source"`
	// ReplyTo is where the reply events go without a Broker: an http(s)
	// URL of a Service in the claim's namespace. With a Broker the
	// replies go to the Broker and this is ignored.
	ReplyTo string `json:"replyTo,omitempty"`
}

// VolumeSource is the source of a requested claim: exactly one of its
// fields is set.
type VolumeSource struct {
	// Import downloads an image.
	Import *ImportSource `json:"import,omitempty"`
	// Upload waits for an image sent through the upload proxy.
	Upload *UploadSource `json:"upload,omitempty"`
	// Clone copies another claim.
	Clone *annotations.CloneSource `json:"clone,omitempty"`
}

// ImportSource is an image to download, as the import annotations name it.
type ImportSource struct {
	// Endpoint is an http(s):// or s3:// URL.
	Endpoint string `json:"endpoint"`
	// SecretName names a Secret in the claim's namespace with
	// accessKeyId and secretKey.
	SecretName string `json:"secretName,omitempty"`
	// CertConfigMap names a ConfigMap in the claim's namespace with the
	// CA bundle that signs the endpoint's certificate.
	CertConfigMap string `json:"certConfigMap,omitempty"`
	// Checksum is the image's digest, "sha256:<hex>" (or sha512, md5…).
	Checksum string `json:"checksum,omitempty"`
	// S3Endpoint is the S3 server of an s3:// Endpoint.
	S3Endpoint string `json:"s3Endpoint,omitempty"`
}

// UploadSource asks for an upload slot: the claim waits for an image
// sent through the upload proxy with an UploadTokenRequest's token.
type UploadSource struct{}

// Digest identifies the request's content, without where its replies go:
// the same id with another digest is another request.
func (p VolumeRequestedPayload) Digest() string {
	p.ReplyTo = ""
	return ID(VolumeRequested, p)
}

// VolumeReplyPayload is the data of every reply event.
type VolumeReplyPayload struct {
	// RequestID and RequestSource are the id and source of the request
	// event answered.
	RequestID     string `json:"requestId"`
	RequestSource string `json:"requestSource"`
	// Claim is the claim of the request; its uid is set once it exists.
	Claim Claim `json:"claim"`
	// Status is the HTTP status the requester answered (202, 400, 403,
	// 409); not set on succeeded and failed.
	Status int `json:"status,omitempty"`
	// Errors are every reason for a rejection.
	Errors []string `json:"errors,omitempty"`
	// Reason and Message are the claim's outcome (the
	// cdi.kubevirt.io/storage.pod.reason and .message annotations) on
	// succeeded and failed.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// NewVolumeReply builds a reply of type typ (one of ReplyTypes). Its id
// depends only on the request, the type and the claim's UID, so a reply
// sent again (the request came again, the updater saw the outcome twice)
// carries the same id.
func NewVolumeReply(typ string, p VolumeReplyPayload, now time.Time) (cloudevents.Event, error) {
	e, err := New(typ, ID(typ, p.RequestSource, p.RequestID, p.Claim.UID), p.Claim, p, now)
	if err != nil {
		return e, err
	}
	if p.RequestID != "" {
		e.SetExtension(ExtensionRequestID, p.RequestID)
	}
	return e, nil
}

// NewVolumeRequested builds a request event with the request id id from
// source (a URI naming the sending system).
func NewVolumeRequested(id, source string, p VolumeRequestedPayload, now time.Time) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetType(VolumeRequested)
	e.SetID(id)
	e.SetSource(source)
	e.SetSubject(p.Claim.Namespace + "/" + p.Claim.Name)
	e.SetTime(now)
	e.SetExtension(ExtensionNamespace, p.Claim.Namespace)
	e.SetExtension(ExtensionName, p.Claim.Name)
	if err := e.SetData(cloudevents.ApplicationJSON, p); err != nil {
		return e, fmt.Errorf("encode %s payload: %w", VolumeRequested, err)
	}
	return e, nil
}
