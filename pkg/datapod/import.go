package datapod

import (
	"net/url"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
)

// ImportContainer is the name of the data mover's container in an import
// data pod (the one whose state and restarts tell the import's fate).
const ImportContainer = "importer"

// Where an import data pod puts things in its container.
const (
	// DataDir is where a Filesystem claim is mounted; the image becomes
	// DataDir/disk.img.
	DataDir = "/data"
	// BlockDevice is the device path of a Block claim.
	BlockDevice = "/dev/cdi-block-volume"
	// ScratchDir is the scratch emptyDir, for a qcow2 that cannot be
	// read in place.
	ScratchDir = "/scratch"
	// SecretDir is where the claim's Secret (annotations.SecretName) is
	// mounted: files accessKeyId and secretKey.
	SecretDir = "/var/run/cdi/secret"
	// CertDir is where the claim's CA ConfigMap
	// (annotations.CertConfigMap) is mounted.
	CertDir = "/var/run/cdi/certs"
	// TerminationLog is where the data mover writes its final error.
	TerminationLog = corev1.TerminationMessagePathDefault
)

// TerminationGracePeriod is how long a data pod may take to stop: the
// data mover stops at once on SIGTERM (its output is only published when
// complete), so a claim deleted mid-import goes within seconds.
const TerminationGracePeriod int64 = 10

// Names of the volumes of an import data pod.
const (
	volumeData    = "data"
	volumeScratch = "scratch"
	volumeSecret  = "secret"
	volumeCerts   = "certs"
	volumeToken   = "cdi-token"
)

// ImportPod returns the data pod that imports req into claim: the data
// mover (cfg.Image, "datamover import") configured by environment (the
// Env* names), with the claim mounted at DataDir (or, for a Block claim,
// as the device BlockDevice), the Secret and CA ConfigMap req names mounted
// read-only, and a scratch emptyDir. The pod is named
// ImportPodName(claim.Name), lives in the claim's namespace, carries the
// data pod labels and annotation and is controlled by the claim, so it is
// garbage-collected with it.
//
// Security: by default the pod meets the restricted Pod Security level:
// it runs as uid and gid QemuID (so its output belongs to KubeVirt's qemu),
// with fsGroup QemuID, no privilege escalation, every capability dropped,
// seccomp RuntimeDefault and a read-only root file system; Block volumes
// need the runtime to give the device to the pod's user (containerd's
// device_ownership_from_security_context). cfg.Privileged runs it
// privileged as root instead. It gets no API token and no service links:
// the data mover never calls the Kubernetes API. When it reports to a
// sink it gets a projected ServiceAccount token for auth.Audience at
// auth.TokenFile, bound to the pod, which the updater checks.
//
// Scratch: an emptyDir limited to the claim's requested size (or
// cfg.ScratchSize), on the node's ephemeral storage. The data mover writes
// to it only when a qcow2 cannot be read in place (a server without range
// requests, or a qcow2 inside a compression layer or a tar); then the node
// needs that much free disk. The limit is not a reservation: the scheduler
// does not account for it (a request the size of the claim would make large
// claims unschedulable on small nodes for an import that usually needs no
// scratch), and a pod that spools more than the limit is evicted, which the
// event source reports on the claim.
func ImportPod(claim *corev1.PersistentVolumeClaim, req annotations.ImportRequest, cfg Config) *corev1.Pod {
	st := mountClaim(claim, cfg)
	env := []corev1.EnvVar{
		{Name: EnvSource, Value: req.Endpoint},
		{Name: EnvTarget, Value: st.target},
		{Name: EnvContentType, Value: contentType(req)},
	}
	env = append(env, st.env...)
	if req.Checksum != "" {
		env = append(env, corev1.EnvVar{Name: EnvChecksum, Value: req.Checksum})
	}
	if s3 := s3Endpoint(req, cfg); s3 != "" {
		env = append(env, corev1.EnvVar{Name: EnvS3Endpoint, Value: s3})
	}
	if cfg.EgressDeny != "" {
		env = append(env, corev1.EnvVar{Name: EnvEgressDeny, Value: cfg.EgressDeny})
	}
	if cfg.EgressAllow != "" {
		env = append(env, corev1.EnvVar{Name: EnvEgressAllow, Value: cfg.EgressAllow})
	}
	volumes, mounts := st.volumes, st.mounts
	if req.SecretName != "" {
		env = append(env, corev1.EnvVar{Name: EnvSecretDir, Value: SecretDir})
		volumes = append(volumes, corev1.Volume{Name: volumeSecret, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: req.SecretName},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: volumeSecret, MountPath: SecretDir, ReadOnly: true})
	}
	if req.CertConfigMap != "" {
		env = append(env, corev1.EnvVar{Name: EnvCertDir, Value: CertDir})
		volumes = append(volumes, corev1.Volume{Name: volumeCerts, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: req.CertConfigMap},
			},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: volumeCerts, MountPath: CertDir, ReadOnly: true})
	}
	return dataPod(claim, cfg, KindImport, ImportPodName(claim.Name), corev1.Container{
		Name: ImportContainer, Args: []string{"import"}, Env: env, VolumeMounts: mounts, VolumeDevices: st.devices,
	}, volumes)
}

// claimStorage is how a data pod holds its claim: the claim mounted at
// DataDir (or, Block, the device BlockDevice) and the scratch emptyDir, with
// the environment that tells the data mover (target size and scratch).
type claimStorage struct {
	target  string
	env     []corev1.EnvVar
	volumes []corev1.Volume
	mounts  []corev1.VolumeMount
	devices []corev1.VolumeDevice
}

// mountClaim mounts claim and a scratch emptyDir limited to the claim's
// requested size (or cfg.ScratchSize).
func mountClaim(claim *corev1.PersistentVolumeClaim, cfg Config) claimStorage {
	size, hasSize := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	block := claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock
	st := claimStorage{target: DataDir}
	if block {
		st.target = BlockDevice
	}
	if hasSize {
		st.env = append(st.env, corev1.EnvVar{Name: EnvSize, Value: strconv.FormatInt(size.Value(), 10)})
	}
	st.env = append(st.env, corev1.EnvVar{Name: EnvScratch, Value: ScratchDir})
	scratch := &corev1.EmptyDirVolumeSource{}
	switch {
	case cfg.ScratchSize != nil:
		scratch.SizeLimit = ptr.To(cfg.ScratchSize.DeepCopy())
	case hasSize:
		scratch.SizeLimit = ptr.To(size.DeepCopy())
	}
	st.volumes = []corev1.Volume{
		{Name: volumeData, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
		}},
		{Name: volumeScratch, VolumeSource: corev1.VolumeSource{EmptyDir: scratch}},
	}
	st.mounts = []corev1.VolumeMount{{Name: volumeScratch, MountPath: ScratchDir}}
	if block {
		st.devices = []corev1.VolumeDevice{{Name: volumeData, DevicePath: BlockDevice}}
	} else {
		st.mounts = append([]corev1.VolumeMount{{Name: volumeData, MountPath: DataDir}}, st.mounts...)
	}
	return st
}

// dataPod completes c into the data pod of claim named name: the data
// mover's image, the claim's and the pod's identity and, with a sink, the
// sink and the event token in its environment; labels, the claim as
// controller, the security contexts, no API token and no service links.
func dataPod(claim *corev1.PersistentVolumeClaim, cfg Config, kind, name string, c corev1.Container, volumes []corev1.Volume) *corev1.Pod {
	if cfg.Sink != "" {
		c.Env = append(c.Env,
			corev1.EnvVar{Name: EnvSink, Value: cfg.Sink},
			corev1.EnvVar{Name: EnvTokenFile, Value: auth.TokenFile})
		if cfg.SinkAudience != "" {
			c.Env = append(c.Env, corev1.EnvVar{Name: EnvSinkTokenFile, Value: SinkTokenFile})
		}
		volumes = append(volumes, tokenVolume(cfg.SinkAudience))
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: volumeToken, MountPath: path.Dir(auth.TokenFile), ReadOnly: true})
	}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: EnvClaimNamespace, Value: claim.Namespace},
		corev1.EnvVar{Name: EnvClaimName, Value: claim.Name},
		corev1.EnvVar{Name: EnvClaimUID, Value: string(claim.UID)},
		fieldEnv(EnvPodName, "metadata.name"),
		fieldEnv(EnvPodUID, "metadata.uid"),
		corev1.EnvVar{Name: EnvTerminationLog, Value: TerminationLog},
	)
	podSecurity, containerSecurity := securityContexts(cfg.Privileged)
	c.Image, c.ImagePullPolicy, c.Resources = cfg.Image, cfg.pullPolicy(), cfg.resources()
	c.TerminationMessagePath, c.TerminationMessagePolicy = TerminationLog, corev1.TerminationMessageFallbackToLogsOnError
	c.SecurityContext = containerSecurity
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: claim.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy,
				LabelKind:      kind,
				LabelClaimUID:  string(claim.UID),
			},
			Annotations:     map[string]string{AnnotationClaimName: claim.Name},
			OwnerReferences: []metav1.OwnerReference{ClaimOwnerReference(claim)},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyOnFailure,
			TerminationGracePeriodSeconds: ptr.To(TerminationGracePeriod),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			SecurityContext:               podSecurity,
			Containers:                    []corev1.Container{c},
			Volumes:                       volumes,
		},
	}
}

// securityContexts are the pod's and the container's security contexts:
// the restricted Pod Security level as uid/gid QemuID, or privileged root.
func securityContexts(privileged bool) (*corev1.PodSecurityContext, *corev1.SecurityContext) {
	if privileged {
		return nil, &corev1.SecurityContext{
			Privileged: ptr.To(true),
			RunAsUser:  ptr.To[int64](0),
			RunAsGroup: ptr.To[int64](0),
		}
	}
	return &corev1.PodSecurityContext{
			RunAsNonRoot:        ptr.To(true),
			RunAsUser:           ptr.To(QemuID),
			RunAsGroup:          ptr.To(QemuID),
			FSGroup:             ptr.To(QemuID),
			FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
			SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}, &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
}

// SinkTokenFile is where a data pod finds its token for the sink's
// audience (Config.SinkAudience), next to auth.TokenFile.
var SinkTokenFile = path.Join(path.Dir(auth.TokenFile), "sink-token")

// tokenVolume projects a ServiceAccount token for auth.Audience, bound to
// the pod (the kubelet renews it), readable only by the pod's user; and,
// when sinkAudience is set, one for it at SinkTokenFile.
func tokenVolume(sinkAudience string) corev1.Volume {
	sources := []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
		Audience:          auth.Audience,
		ExpirationSeconds: ptr.To[int64](auth.TokenExpirationSeconds),
		Path:              path.Base(auth.TokenFile),
	}}}
	if sinkAudience != "" {
		sources = append(sources, corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience:          sinkAudience,
			ExpirationSeconds: ptr.To[int64](auth.TokenExpirationSeconds),
			Path:              path.Base(SinkTokenFile),
		}})
	}
	return corev1.Volume{Name: volumeToken, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](0o400), Sources: sources},
	}}
}

// ClaimOwnerReference is the controller owner reference of a data pod to
// its claim. Deleting the claim deletes the pod; blockOwnerDeletion keeps a
// foreground deletion of the claim waiting until the pod is gone.
func ClaimOwnerReference(claim *corev1.PersistentVolumeClaim) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         "v1",
		Kind:               "PersistentVolumeClaim",
		Name:               claim.Name,
		UID:                claim.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// contentType is req's content type, kubevirt when it names none.
func contentType(req annotations.ImportRequest) string {
	if req.ContentType == "" {
		return annotations.ContentTypeKubeVirt
	}
	return req.ContentType
}

// s3Endpoint is the S3 endpoint for req: its own, else cfg's default, and
// none for a source that is not s3://.
func s3Endpoint(req annotations.ImportRequest, cfg Config) string {
	if u, err := url.Parse(req.Endpoint); err != nil || u.Scheme != "s3" {
		return ""
	}
	if req.S3Endpoint != "" {
		return req.S3Endpoint
	}
	return cfg.S3Endpoint
}

// fieldEnv is an environment variable from the pod's own field (the
// downward API).
func fieldEnv(name, fieldPath string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: fieldPath},
	}}
}
