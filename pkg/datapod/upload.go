package datapod

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// UploadContainer is the name of the data mover's container in an upload
// data pod.
const UploadContainer = "receiver"

// UploadPort is where an upload data pod listens for the upload proxy.
const UploadPort = 8443

// CredentialDir is where an upload data pod's credential Secret is
// mounted. The Secret (named UploadSecretName, made by the uploader from
// pkg/podcred) holds the bearer credential the upload proxy presents
// (CredentialKey) and the pod's serving certificate and key
// (TLSCertKey, TLSKeyKey), which the proxy verifies.
const (
	CredentialDir = "/var/run/cdi/upload"
	CredentialKey = "credential"
	TLSCertKey    = "tls.crt"
	TLSKeyKey     = "tls.key"
)

// UploadSecretName is the name of the credential Secret of the upload
// pods of the claim with UID claimUID. Named by the UID, so a Secret of
// that name is never an earlier claim's: the uploader creates it and need
// not read it back.
func UploadSecretName(claimUID string) string { return UploadPrefix + claimUID }

// volumeCredential is the upload pod's credential volume.
const volumeCredential = "upload-credential"

// UploadPod returns the data pod that receives an upload into claim: the
// data mover's "receive" command listening on UploadPort, with the claim
// mounted as an import pod mounts it, and the Secret credentialSecret
// (key CredentialKey: a random credential made for this pod, which only
// the upload proxy also reads) mounted read-only. Its security, labels,
// owner and identity are those of ImportPod, with LabelKind KindUpload. It
// is ready (a TCP probe) when it listens.
func UploadPod(claim *corev1.PersistentVolumeClaim, credentialSecret string, cfg Config) *corev1.Pod {
	st := mountClaim(claim, cfg)
	env := []corev1.EnvVar{
		{Name: EnvTarget, Value: st.target},
		{Name: EnvListen, Value: ":" + strconv.Itoa(UploadPort)},
		{Name: EnvContentType, Value: uploadContentType(claim)},
		{Name: EnvCredentialFile, Value: CredentialDir + "/" + CredentialKey},
		{Name: EnvTLSCert, Value: CredentialDir + "/" + TLSCertKey},
		{Name: EnvTLSKey, Value: CredentialDir + "/" + TLSKeyKey},
	}
	env = append(env, st.env...)
	volumes := append(st.volumes, corev1.Volume{Name: volumeCredential, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: credentialSecret, DefaultMode: ptr.To[int32](0o440)},
	}})
	mounts := append(st.mounts, corev1.VolumeMount{Name: volumeCredential, MountPath: CredentialDir, ReadOnly: true})
	pod := dataPod(claim, cfg, KindUpload, UploadPodName(claim.Name), corev1.Container{
		Name: UploadContainer, Args: []string{"receive"}, Env: env, VolumeMounts: mounts, VolumeDevices: st.devices,
		Ports: []corev1.ContainerPort{{Name: "upload", ContainerPort: UploadPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(UploadPort)}},
			PeriodSeconds: 2,
		},
	}, volumes)
	return pod
}

// uploadContentType is the claim's content type annotation, kubevirt when it
// names none: the upload pod's default for uploads that do not name one.
func uploadContentType(claim *corev1.PersistentVolumeClaim) string {
	r, _ := annotations.UploadRequestOf(claim.Annotations)
	if r.ContentType == "" {
		return annotations.ContentTypeKubeVirt
	}
	return r.ContentType
}
