package datapod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Config is what data pods take from the function that creates them rather
// than from the claim: the data mover's image and how to run it.
type Config struct {
	// Image is the data mover's image.
	Image string
	// PullPolicy is the image pull policy; empty means IfNotPresent.
	PullPolicy corev1.PullPolicy
	// Resources of the data mover's container; when it sets neither
	// requests nor limits, DefaultResources is used.
	Resources corev1.ResourceRequirements
	// Sink is the URL the data mover sends its progress and phase events
	// to (the updater's); empty sends none.
	Sink string
	// SinkAudience, when set, is the audience of the sink's own tokens (a
	// Broker with Knative's OIDC on): data pods then get a second
	// projected token, for it, at SinkTokenFile.
	SinkAudience string
	// S3Endpoint is the default endpoint for s3:// sources of claims that
	// name none (annotations.S3Endpoint); empty means AWS.
	S3Endpoint string
	// ScratchSize bounds the scratch emptyDir; nil means the claim's
	// requested size (see ImportPod).
	ScratchSize *resource.Quantity
	// Privileged runs the data mover privileged and as root, as CDI's
	// 2018 importer did, for storage that a restricted pod cannot write.
	// The namespace must then allow the privileged Pod Security level.
	// By default data pods meet the restricted level (see ImportPod).
	Privileged bool
	// EgressDeny and EgressAllow are the data mover's egress settings
	// (comma-separated CIDRs denied on top of its defaults, and allowed
	// even if denied; see EgressPolicy); empty keeps its defaults.
	EgressDeny, EgressAllow string
}

// DefaultResources are the data mover's requests and limits when Config
// names none: it streams, so its peak resident memory stays below 200 MiB
// (the qcow2 tables, zstd's capped window and the threaded xz decoder's
// buffers); 512 MiB leaves room without letting a runaway pod take a node.
// No CPU limit: decompression is CPU-bound and throttling only slows it.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
	}
}

// resources returns c.Resources, or DefaultResources when it is empty.
func (c Config) resources() corev1.ResourceRequirements {
	if len(c.Resources.Requests) == 0 && len(c.Resources.Limits) == 0 {
		return DefaultResources()
	}
	return *c.Resources.DeepCopy()
}

// pullPolicy returns c.PullPolicy, or IfNotPresent when it is empty.
func (c Config) pullPolicy() corev1.PullPolicy {
	if c.PullPolicy == "" {
		return corev1.PullIfNotPresent
	}
	return c.PullPolicy
}
