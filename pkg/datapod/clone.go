package datapod

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
)

// A clone is two data pods: the clone target (in the target claim's
// namespace, the target claim mounted, owned by it like an import pod)
// listens on ClonePort behind the Service CloneServiceName; the clone
// source (in the source claim's namespace, the source claim mounted
// read-only) dials it and streams the claim (pkg/clonestream). Both hold
// credentials unique to the clone, from pkg/podcred: the bearer
// credential the source presents and the target checks, and the target's
// serving certificate, which the source verifies with the authority's CA.
// Only the target reports to the updater; the source pod has no owner in
// its namespace and is found by LabelCloneTargetUID.

// Kinds of the clone data pods, values of LabelKind.
const (
	// KindCloneTarget is the pod that receives a clone into its claim.
	KindCloneTarget = "clone-target"
	// KindCloneSource is the pod that sends the source claim.
	KindCloneSource = "clone-source"
)

// LabelCloneTargetUID is, on a clone source pod and its Secret, the UID
// of the target claim it sends to; AnnotationCloneTarget its
// "namespace/name".
const (
	LabelCloneTargetUID   = "cdi-functions.io/clone-target-uid"
	AnnotationCloneTarget = "cdi-functions.io/clone-target"
)

// Container names and the target's port.
const (
	CloneTargetContainer = "clone-target"
	CloneSourceContainer = "clone-source"
	ClonePort            = 8443
)

// ClonePrefix starts the names of the clone target pod
// ("cdi-clone-<claim name>", shortened as ImportPodName), its Secret and
// Service ("cdi-clone-<target uid>"); CloneSourcePrefix the clone source
// pod's and its Secret's ("cdi-clone-source-<target uid>").
const (
	ClonePrefix       = "cdi-clone-"
	CloneSourcePrefix = "cdi-clone-source-"
)

// CloneCredentialDir is where the clone pods mount their Secret: the
// bearer credential (CredentialKey); on the target, its serving
// certificate and key (TLSCertKey, TLSKeyKey); on the source, the CA
// (CACertKey).
const (
	CloneCredentialDir = "/var/run/cdi/clone"
	CACertKey          = "ca.crt"
)

// volumeCloneCredential is the clone pods' credential volume.
const volumeCloneCredential = "clone-credential"

// CloneTargetPodName is the name of the clone target pod of the claim
// named claimName.
func CloneTargetPodName(claimName string) string { return podName(ClonePrefix, claimName) }

// CloneSecretName names the target's credential Secret and CloneServiceName
// the Service in front of the target pod, both by the target claim's UID.
func CloneSecretName(targetUID string) string  { return ClonePrefix + targetUID }
func CloneServiceName(targetUID string) string { return ClonePrefix + targetUID }

// CloneSourcePodName names the clone source pod (and its Secret) of the
// target claim with UID targetUID, in the source namespace.
func CloneSourcePodName(targetUID string) string { return CloneSourcePrefix + targetUID }

// CloneTargetAddress is where the source pod dials the target: the
// target's Service, host:port.
func CloneTargetAddress(target *corev1.PersistentVolumeClaim) string {
	return CloneServiceName(string(target.UID)) + "." + target.Namespace + ".svc:" + strconv.Itoa(ClonePort)
}

// CloneTargetPod returns the data pod that receives the clone into
// target: "datamover clone-target" on ClonePort, the claim mounted as an
// import pod mounts it (without scratch space), its Secret
// (CloneSecretName) read-only. Labels,
// owner, security and reporting are ImportPod's, with LabelKind
// KindCloneTarget; it is ready (TCP probe) when it listens.
func CloneTargetPod(target *corev1.PersistentVolumeClaim, cfg Config) *corev1.Pod {
	st := withoutScratch(mountClaim(target, cfg))
	env := []corev1.EnvVar{
		{Name: EnvTarget, Value: st.target},
		{Name: EnvListen, Value: ":" + strconv.Itoa(ClonePort)},
		{Name: EnvCredentialFile, Value: CloneCredentialDir + "/" + CredentialKey},
		{Name: EnvTLSCert, Value: CloneCredentialDir + "/" + TLSCertKey},
		{Name: EnvTLSKey, Value: CloneCredentialDir + "/" + TLSKeyKey},
	}
	env = append(env, st.env...)
	volumes := append(st.volumes, secretVolume(CloneSecretName(string(target.UID))))
	mounts := append(st.mounts, corev1.VolumeMount{Name: volumeCloneCredential, MountPath: CloneCredentialDir, ReadOnly: true})
	return dataPod(target, cfg, KindCloneTarget, CloneTargetPodName(target.Name), corev1.Container{
		Name: CloneTargetContainer, Args: []string{"clone-target"}, Env: env, VolumeMounts: mounts, VolumeDevices: st.devices,
		Ports: []corev1.ContainerPort{{Name: "clone", ContainerPort: ClonePort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(ClonePort)}},
			PeriodSeconds: 2,
		},
	}, volumes)
}

// CloneService returns the Service the source pod dials: the target pod
// on ClonePort, owned by that pod (it goes with it).
func CloneService(target *corev1.PersistentVolumeClaim, targetPod *corev1.Pod) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      CloneServiceName(string(target.UID)),
			Namespace: target.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy,
				LabelClaimUID:  string(target.UID),
			},
			Annotations:     map[string]string{AnnotationClaimName: target.Name},
			OwnerReferences: []metav1.OwnerReference{podOwnerReference(targetPod)},
		},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{LabelKind: KindCloneTarget, LabelClaimUID: string(target.UID)},
			Ports: []corev1.ServicePort{{Name: "clone", Port: ClonePort, TargetPort: intstr.FromInt32(ClonePort),
				Protocol: corev1.ProtocolTCP}},
			// The target pod is dialled before it is ready: the source
			// retries until it listens.
			PublishNotReadyAddresses: true,
		},
	}
}

// CloneTargetSecret returns the target pod's credential Secret: the
// bearer credential it accepts and its serving certificate and key. Owned
// by the target claim, like UploadSecret.
func CloneTargetSecret(target *corev1.PersistentVolumeClaim, bearer string, certPEM, keyPEM []byte) *corev1.Secret {
	s := UploadSecret(target, bearer, certPEM, keyPEM)
	s.Name = CloneSecretName(string(target.UID))
	return s
}

// CloneSourcePod returns the data pod that sends source to target's clone
// target pod: "datamover clone-source" in the source claim's namespace,
// the source claim mounted read-only, its Secret (CloneSourcePodName)
// read-only. It carries no claim-uid label and no owner: it fills no
// claim of its namespace; LabelCloneTargetUID and AnnotationCloneTarget
// name the target. It reports nothing (the target does); it restarts on
// failure and resumes where the target stands.
func CloneSourcePod(source, target *corev1.PersistentVolumeClaim, cfg Config) *corev1.Pod {
	block := source.Spec.VolumeMode != nil && *source.Spec.VolumeMode == corev1.PersistentVolumeBlock
	path := DataDir
	if block {
		path = BlockDevice
	}
	c := corev1.Container{
		Name: CloneSourceContainer,
		Args: []string{"clone-source"},
		Env: []corev1.EnvVar{
			{Name: EnvSource, Value: path},
			{Name: EnvContentType, Value: sourceContentType(source)},
			{Name: EnvTargetAddress, Value: CloneTargetAddress(target)},
			{Name: EnvCredentialFile, Value: CloneCredentialDir + "/" + CredentialKey},
			{Name: EnvTLSCA, Value: CloneCredentialDir + "/" + CACertKey},
			{Name: EnvTLSServerName, Value: podcred.CloneServerName(string(target.UID))},
			{Name: EnvTerminationLog, Value: TerminationLog},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: volumeCloneCredential, MountPath: CloneCredentialDir, ReadOnly: true}},
	}
	if block {
		c.VolumeDevices = []corev1.VolumeDevice{{Name: volumeData, DevicePath: BlockDevice}}
	} else {
		c.VolumeMounts = append([]corev1.VolumeMount{{Name: volumeData, MountPath: DataDir, ReadOnly: true}}, c.VolumeMounts...)
	}
	podSecurity, containerSecurity := securityContexts(cfg.Privileged)
	c.Image, c.ImagePullPolicy, c.Resources = cfg.Image, cfg.pullPolicy(), cfg.resources()
	c.TerminationMessagePath, c.TerminationMessagePolicy = TerminationLog, corev1.TerminationMessageFallbackToLogsOnError
	c.SecurityContext = containerSecurity
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      CloneSourcePodName(string(target.UID)),
			Namespace: source.Namespace,
			Labels: map[string]string{
				LabelManagedBy:      ManagedBy,
				LabelKind:           KindCloneSource,
				LabelCloneTargetUID: string(target.UID),
			},
			Annotations: map[string]string{AnnotationCloneTarget: target.Namespace + "/" + target.Name},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyOnFailure,
			TerminationGracePeriodSeconds: ptr.To(TerminationGracePeriod),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			SecurityContext:               podSecurity,
			Containers:                    []corev1.Container{c},
			Volumes: []corev1.Volume{
				{Name: volumeData, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: source.Name, ReadOnly: true},
				}},
				secretVolume(CloneSourcePodName(string(target.UID))),
			},
		},
	}
}

// CloneSourceSecret returns the source pod's Secret: the bearer
// credential it presents and the CA that the target's certificate chains
// to. Owned by the source pod (sourcePod, as created), so it goes with it.
func CloneSourceSecret(sourcePod *corev1.Pod, bearer string, caPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      sourcePod.Name,
			Namespace: sourcePod.Namespace,
			Labels: map[string]string{
				LabelManagedBy:      ManagedBy,
				LabelCloneTargetUID: sourcePod.Labels[LabelCloneTargetUID],
			},
			OwnerReferences: []metav1.OwnerReference{podOwnerReference(sourcePod)},
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: ptr.To(true),
		Data:      map[string][]byte{CredentialKey: []byte(bearer), CACertKey: caPEM},
	}
}

// IsCloneSourceOf reports whether pod is the clone source pod sending to
// the target claim with UID targetUID.
func IsCloneSourceOf(pod *corev1.Pod, targetUID string) bool {
	return targetUID != "" && IsDataPod(pod, KindCloneSource) && pod.Labels[LabelCloneTargetUID] == targetUID
}

// sourceContentType is the source claim's content type: archive when its
// import or upload was of one (its tree is cloned), else kubevirt.
func sourceContentType(source *corev1.PersistentVolumeClaim) string {
	if source.Annotations[annotations.ContentType] == annotations.ContentTypeArchive {
		return annotations.ContentTypeArchive
	}
	return annotations.ContentTypeKubeVirt
}

// withoutScratch drops the scratch space from st: a clone target writes
// the stream in place and spools nothing.
func withoutScratch(st claimStorage) claimStorage {
	out := claimStorage{target: st.target, devices: st.devices}
	for _, e := range st.env {
		if e.Name != EnvScratch {
			out.env = append(out.env, e)
		}
	}
	for _, v := range st.volumes {
		if v.Name != volumeScratch {
			out.volumes = append(out.volumes, v)
		}
	}
	for _, m := range st.mounts {
		if m.Name != volumeScratch {
			out.mounts = append(out.mounts, m)
		}
	}
	return out
}

// secretVolume mounts the Secret name as the clone credential volume.
func secretVolume(name string) corev1.Volume {
	return corev1.Volume{Name: volumeCloneCredential, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: name, DefaultMode: ptr.To[int32](0o440)},
	}}
}

// podOwnerReference makes pod the controller owner of an object in its
// namespace, which goes with it.
func podOwnerReference(pod *corev1.Pod) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptr.To(true)}
}
