package datapod

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The data mover's environment: the functions configure data pods with
// these variables, and the data mover reads each as the flag of the same
// name (DATAMOVER_SECRET_DIR is --secret-dir). A test in
// functions/datamover builds a pod with ImportPod and parses its
// environment with the data mover's own flags, so the two sides cannot
// drift apart.
const (
	// EnvPrefix starts every variable.
	EnvPrefix = "DATAMOVER_"

	EnvSource         = EnvPrefix + "SOURCE"
	EnvTarget         = EnvPrefix + "TARGET"
	EnvContentType    = EnvPrefix + "CONTENT_TYPE"
	EnvSize           = EnvPrefix + "SIZE"
	EnvChecksum       = EnvPrefix + "CHECKSUM"
	EnvS3Endpoint     = EnvPrefix + "S3_ENDPOINT"
	EnvSecretDir      = EnvPrefix + "SECRET_DIR"
	EnvCertDir        = EnvPrefix + "CERT_DIR"
	EnvScratch        = EnvPrefix + "SCRATCH"
	EnvSink           = EnvPrefix + "SINK"
	EnvTokenFile      = EnvPrefix + "TOKEN_FILE"
	EnvSinkTokenFile  = EnvPrefix + "SINK_TOKEN_FILE"
	EnvClaimNamespace = EnvPrefix + "CLAIM_NAMESPACE"
	EnvClaimName      = EnvPrefix + "CLAIM_NAME"
	EnvClaimUID       = EnvPrefix + "CLAIM_UID"
	EnvPodName        = EnvPrefix + "POD_NAME"
	EnvPodUID         = EnvPrefix + "POD_UID"
	EnvTerminationLog = EnvPrefix + "TERMINATION_LOG"
	EnvEgressDeny     = EnvPrefix + "EGRESS_DENY"
	EnvEgressAllow    = EnvPrefix + "EGRESS_ALLOW"
	// The upload data pod's ("datamover receive").
	EnvListen         = EnvPrefix + "LISTEN"
	EnvCredentialFile = EnvPrefix + "CREDENTIAL_FILE"
	EnvTLSCert        = EnvPrefix + "TLS_CERT"
	EnvTLSKey         = EnvPrefix + "TLS_KEY"
	// The clone data pods' ("datamover clone-source", "datamover
	// clone-target"); clone-target also reads EnvListen,
	// EnvCredentialFile, EnvTLSCert and EnvTLSKey, clone-source
	// EnvSource, EnvContentType and EnvCredentialFile.
	EnvTargetAddress = EnvPrefix + "TARGET_ADDRESS"
	EnvTLSCA         = EnvPrefix + "TLS_CA"
	EnvTLSServerName = EnvPrefix + "TLS_SERVER_NAME"
	EnvCompress      = EnvPrefix + "COMPRESS"
	EnvIdleTimeout   = EnvPrefix + "IDLE_TIMEOUT"
)

// Exit statuses of the data mover. The event source reads them from the
// pod's status to tell a failure retrying cannot fix from one that may
// pass.
const (
	// ExitOK: the work is done.
	ExitOK = 0
	// ExitPermanent: a failure retrying cannot fix (not found, access
	// denied, a corrupt, unsupported or too large image, a checksum
	// mismatch, an address the egress policy refuses).
	ExitPermanent = 1
	// ExitUsage: the data mover was configured wrongly (a bad flag or
	// environment variable). Retrying cannot fix it either.
	ExitUsage = 2
	// ExitRetryable: a failure that may pass (network trouble, a server
	// error after the retries ran out); the kubelet restarts the pod.
	ExitRetryable = 3
)

// PermanentExit reports whether a data mover exit status means the work
// failed for good: restarting the container would only fail again.
func PermanentExit(code int32) bool {
	return code == ExitPermanent || code == ExitUsage
}

// QemuID is the user and group id data pods run as by default and own
// their output with: KubeVirt's qemu (107), so a VM can use the disk.
const QemuID int64 = 107

// Owns reports whether pod is a data pod of claim: its controller owner
// reference or its claim-uid label names the claim's UID, and neither
// names another.
func Owns(claim *corev1.PersistentVolumeClaim, pod *corev1.Pod) bool {
	return OwnedBy(claim.UID, pod)
}

// OwnedBy is Owns for a claim known by its UID only.
func OwnedBy(claimUID types.UID, pod *corev1.Pod) bool {
	if claimUID == "" {
		return false
	}
	evidence := false
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ref.UID != claimUID || ref.Kind != "PersistentVolumeClaim" {
			return false
		}
		evidence = true
	}
	if uid, ok := pod.Labels[LabelClaimUID]; ok {
		if uid != string(claimUID) {
			return false
		}
		evidence = true
	}
	return evidence
}

// ClaimOf names the claim a data pod fills: the claim-name annotation,
// else the controller owner reference to a PersistentVolumeClaim.
func ClaimOf(pod *corev1.Pod) (types.NamespacedName, bool) {
	if name := pod.Annotations[AnnotationClaimName]; name != "" {
		return types.NamespacedName{Namespace: pod.Namespace, Name: name}, true
	}
	if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "PersistentVolumeClaim" {
		return types.NamespacedName{Namespace: pod.Namespace, Name: ref.Name}, true
	}
	return types.NamespacedName{}, false
}

// IsDataPod reports whether pod carries the data pod labels of kind.
func IsDataPod(pod *corev1.Pod, kind string) bool {
	return pod.Labels[LabelManagedBy] == ManagedBy && pod.Labels[LabelKind] == kind
}
