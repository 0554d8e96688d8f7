package datapod

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// claim builds a 10Gi Filesystem claim in namespace "default".
func claim(name string, opts ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withSize(q string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(q)
	}
}

func withoutSize() func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }
}

func withVolumeMode(m corev1.PersistentVolumeMode) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &m }
}

// request is an HTTP kubevirt import request, changed by opts.
func request(opts ...func(*annotations.ImportRequest)) annotations.ImportRequest {
	r := annotations.ImportRequest{Endpoint: "http://images.example/disk.qcow2.xz", ContentType: annotations.ContentTypeKubeVirt}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func withEndpoint(u string) func(*annotations.ImportRequest) {
	return func(r *annotations.ImportRequest) { r.Endpoint = u }
}
func withSecret(s string) func(*annotations.ImportRequest) {
	return func(r *annotations.ImportRequest) { r.SecretName = s }
}
func withCerts(cm string) func(*annotations.ImportRequest) {
	return func(r *annotations.ImportRequest) { r.CertConfigMap = cm }
}
func withContentType(ct string) func(*annotations.ImportRequest) {
	return func(r *annotations.ImportRequest) { r.ContentType = ct }
}
func withChecksum(c string) func(*annotations.ImportRequest) {
	return func(r *annotations.ImportRequest) { r.Checksum = c }
}
func withS3Endpoint(e string) func(*annotations.ImportRequest) {
	return func(r *annotations.ImportRequest) { r.S3Endpoint = e }
}

var testConfig = Config{Image: "registry.example/datamover@sha256:abc", Sink: "http://cdi-updater.cdi.svc.cluster.local"}

// env returns the container's literal environment as a map (downward API
// variables as "fieldRef:<path>").
func env(t *testing.T, p *corev1.Pod) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range container(t, p).Env {
		_, dup := out[e.Name]
		require.False(t, dup, "variable %s set twice", e.Name)
		if e.ValueFrom != nil {
			out[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
			continue
		}
		out[e.Name] = e.Value
	}
	return out
}

func container(t *testing.T, p *corev1.Pod) corev1.Container {
	t.Helper()
	require.Len(t, p.Spec.Containers, 1)
	return p.Spec.Containers[0]
}

func mounts(t *testing.T, p *corev1.Pod) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range container(t, p).VolumeMounts {
		out[m.Name] = m.MountPath
		if m.Name == volumeSecret || m.Name == volumeCerts {
			assert.True(t, m.ReadOnly, "%s is mounted read-only", m.Name)
		}
	}
	return out
}

func volume(p *corev1.Pod, name string) *corev1.Volume {
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].Name == name {
			return &p.Spec.Volumes[i]
		}
	}
	return nil
}

// TestImportPodGolden pins the whole pod of the seed's claim: a change to
// the contract with the data mover or the event source shows up here.
func TestImportPodGolden(t *testing.T) {
	c := claim("golden-pvc")
	p := ImportPod(c, request(), testConfig)

	assert.Equal(t, "importer-golden-pvc", p.Name)
	assert.Equal(t, "default", p.Namespace)
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/managed-by": "cdi-functions",
		"cdi-functions.io/datapod":     "import",
		"cdi-functions.io/claim-uid":   "uid-golden-pvc",
	}, p.Labels)
	assert.Equal(t, map[string]string{"cdi-functions.io/claim-name": "golden-pvc"}, p.Annotations)
	assert.Equal(t, []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "PersistentVolumeClaim", Name: "golden-pvc", UID: "uid-golden-pvc",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}, p.OwnerReferences)

	assert.Equal(t, corev1.RestartPolicyOnFailure, p.Spec.RestartPolicy)
	assert.Equal(t, ptr.To(false), p.Spec.AutomountServiceAccountToken, "the data mover never calls the API")
	assert.Equal(t, ptr.To(false), p.Spec.EnableServiceLinks)

	ctr := container(t, p)
	assert.Equal(t, ImportContainer, ctr.Name)
	assert.Equal(t, testConfig.Image, ctr.Image)
	assert.Equal(t, corev1.PullIfNotPresent, ctr.ImagePullPolicy)
	assert.Equal(t, []string{"import"}, ctr.Args)
	assert.Empty(t, ctr.Command, "the image's entrypoint is the data mover")
	assert.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, ctr.TerminationMessagePolicy)
	assert.Equal(t, "/dev/termination-log", ctr.TerminationMessagePath)
	assert.Equal(t, ptr.To[int64](10), p.Spec.TerminationGracePeriodSeconds, "a deleted claim's pod stops quickly")
	assert.Equal(t, &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](107), RunAsGroup: ptr.To[int64](107), FSGroup: ptr.To[int64](107),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, p.Spec.SecurityContext, "KubeVirt's qemu owns the output")
	assert.Equal(t, &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), RunAsNonRoot: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}, ctr.SecurityContext)
	assert.Equal(t, DefaultResources(), ctr.Resources)
	assert.Equal(t, "100m", ptr.To(ctr.Resources.Requests[corev1.ResourceCPU]).String())
	assert.Equal(t, "128Mi", ptr.To(ctr.Resources.Requests[corev1.ResourceMemory]).String())
	assert.Equal(t, "512Mi", ptr.To(ctr.Resources.Limits[corev1.ResourceMemory]).String())

	// The order is part of the golden: it keeps pod specs stable.
	var names []string
	for _, e := range ctr.Env {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{
		"DATAMOVER_SOURCE", "DATAMOVER_TARGET", "DATAMOVER_CONTENT_TYPE", "DATAMOVER_SIZE", "DATAMOVER_SCRATCH", "DATAMOVER_SINK",
		"DATAMOVER_TOKEN_FILE", "DATAMOVER_CLAIM_NAMESPACE", "DATAMOVER_CLAIM_NAME", "DATAMOVER_CLAIM_UID",
		"DATAMOVER_POD_NAME", "DATAMOVER_POD_UID", "DATAMOVER_TERMINATION_LOG",
	}, names)
	assert.Equal(t, map[string]string{
		"DATAMOVER_SOURCE":          "http://images.example/disk.qcow2.xz",
		"DATAMOVER_TARGET":          "/data",
		"DATAMOVER_CONTENT_TYPE":    "kubevirt",
		"DATAMOVER_SIZE":            "10737418240",
		"DATAMOVER_SINK":            "http://cdi-updater.cdi.svc.cluster.local",
		"DATAMOVER_TOKEN_FILE":      "/var/run/secrets/cdi-functions/token",
		"DATAMOVER_CLAIM_NAMESPACE": "default",
		"DATAMOVER_CLAIM_NAME":      "golden-pvc",
		"DATAMOVER_CLAIM_UID":       "uid-golden-pvc",
		"DATAMOVER_POD_NAME":        "fieldRef:metadata.name",
		"DATAMOVER_POD_UID":         "fieldRef:metadata.uid",
		"DATAMOVER_TERMINATION_LOG": "/dev/termination-log",
		"DATAMOVER_SCRATCH":         "/scratch",
	}, env(t, p))

	assert.Equal(t, []corev1.VolumeMount{
		{Name: "data", MountPath: "/data"},
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "cdi-token", MountPath: "/var/run/secrets/cdi-functions", ReadOnly: true},
	}, ctr.VolumeMounts)
	assert.Empty(t, ctr.VolumeDevices)
	assert.Equal(t, []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "golden-pvc"}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("10Gi"))}}},
		{Name: "cdi-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o400),
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: "cdi-functions", ExpirationSeconds: ptr.To[int64](600), Path: "token",
			}}},
		}}},
	}, p.Spec.Volumes, "the token for the updater is the system's own audience, bound to the pod")
}

// TestImportPodThroughAnOIDCBroker: with a sink audience the pod gets a
// second token, for the Broker, and tells the data mover where it is.
func TestImportPodThroughAnOIDCBroker(t *testing.T) {
	cfg := testConfig
	cfg.SinkAudience = "eventing.knative.dev/broker/cdi/default"
	p := ImportPod(claim("golden-pvc"), request(), cfg)
	assert.Equal(t, "/var/run/secrets/cdi-functions/sink-token", env(t, p)["DATAMOVER_SINK_TOKEN_FILE"])
	var projected []corev1.ServiceAccountTokenProjection
	for _, v := range p.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				projected = append(projected, *s.ServiceAccountToken)
			}
		}
	}
	assert.Equal(t, []corev1.ServiceAccountTokenProjection{
		{Audience: "cdi-functions", ExpirationSeconds: ptr.To[int64](600), Path: "token"},
		{Audience: "eventing.knative.dev/broker/cdi/default", ExpirationSeconds: ptr.To[int64](600), Path: "sink-token"},
	}, projected)

	_, set := env(t, ImportPod(claim("golden-pvc"), request(), testConfig))["DATAMOVER_SINK_TOKEN_FILE"]
	assert.False(t, set, "no sink audience, no sink token")
}

// TestImportPodSecurityLevels evaluates the pods with the Pod Security
// admission library itself: restricted by default (Block claims too),
// privileged only when configured.
func TestImportPodSecurityLevels(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	require.NoError(t, err)
	allowed := func(p *corev1.Pod, level psapi.Level) []string {
		var why []string
		for _, r := range evaluator.EvaluatePod(psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}, &p.ObjectMeta, &p.Spec) {
			if !r.Allowed {
				why = append(why, r.ForbiddenReason+": "+r.ForbiddenDetail)
			}
		}
		return why
	}
	for _, c := range []*corev1.PersistentVolumeClaim{claim("fs"), claim("blk", withVolumeMode(corev1.PersistentVolumeBlock))} {
		p := ImportPod(c, request(withSecret("s"), withCerts("ca")), testConfig)
		assert.Empty(t, allowed(p, psapi.LevelRestricted), "%s: the default data pod is restricted", c.Name)
	}
	priv := testConfig
	priv.Privileged = true
	p := ImportPod(claim("c"), request(), priv)
	assert.NotEmpty(t, allowed(p, psapi.LevelBaseline), "the privileged setting is privileged")
	assert.Empty(t, allowed(p, psapi.LevelPrivileged))
	assert.Equal(t, &corev1.SecurityContext{Privileged: ptr.To(true), RunAsUser: ptr.To[int64](0), RunAsGroup: ptr.To[int64](0)},
		container(t, p).SecurityContext, "as in 2018: privileged root")
	assert.Nil(t, p.Spec.SecurityContext)
}

func TestImportPodEgressSettings(t *testing.T) {
	cfg := testConfig
	cfg.EgressDeny, cfg.EgressAllow = "10.96.0.0/12,10.244.0.0/16", "10.96.0.50/32"
	e := env(t, ImportPod(claim("c"), request(), cfg))
	assert.Equal(t, "10.96.0.0/12,10.244.0.0/16", e["DATAMOVER_EGRESS_DENY"])
	assert.Equal(t, "10.96.0.50/32", e["DATAMOVER_EGRESS_ALLOW"])
	e = env(t, ImportPod(claim("c"), request(), testConfig))
	assert.NotContains(t, e, "DATAMOVER_EGRESS_DENY", "the data mover's defaults")
}

func TestImportPodVolumeMode(t *testing.T) {
	tests := []struct {
		name       string
		claim      *corev1.PersistentVolumeClaim
		wantTarget string
		wantDevice bool
	}{
		{"unset is Filesystem", claim("c"), "/data", false},
		{"Filesystem", claim("c", withVolumeMode(corev1.PersistentVolumeFilesystem)), "/data", false},
		{"Block", claim("c", withVolumeMode(corev1.PersistentVolumeBlock)), "/dev/cdi-block-volume", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ImportPod(tt.claim, request(), testConfig)
			assert.Equal(t, tt.wantTarget, env(t, p)["DATAMOVER_TARGET"])
			ctr := container(t, p)
			require.NotNil(t, volume(p, "data"))
			assert.Equal(t, "c", volume(p, "data").PersistentVolumeClaim.ClaimName)
			if tt.wantDevice {
				assert.Equal(t, []corev1.VolumeDevice{{Name: "data", DevicePath: "/dev/cdi-block-volume"}}, ctr.VolumeDevices)
				assert.NotContains(t, mounts(t, p), "data", "a block claim is a device, not a mount")
			} else {
				assert.Empty(t, ctr.VolumeDevices)
				assert.Equal(t, "/data", mounts(t, p)["data"])
			}
			assert.Equal(t, "/scratch", mounts(t, p)["scratch"], "scratch is a mount either way")
		})
	}
}

func TestImportPodCredentials(t *testing.T) {
	tests := []struct {
		name                   string
		req                    annotations.ImportRequest
		wantSecret, wantConfig string
	}{
		{"none", request(), "", ""},
		{"secret", request(withSecret("endpoint-secret")), "endpoint-secret", ""},
		{"cert config map", request(withEndpoint("https://images.example/d.img"), withCerts("ca-bundle")), "", "ca-bundle"},
		{"both", request(withSecret("s"), withCerts("ca")), "s", "ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ImportPod(claim("c"), tt.req, testConfig)
			e, m := env(t, p), mounts(t, p)
			secret, certs := volume(p, "secret"), volume(p, "certs")
			if tt.wantSecret == "" {
				assert.NotContains(t, e, "DATAMOVER_SECRET_DIR")
				assert.NotContains(t, m, "secret")
				assert.Nil(t, secret)
			} else {
				assert.Equal(t, "/var/run/cdi/secret", e["DATAMOVER_SECRET_DIR"])
				assert.Equal(t, "/var/run/cdi/secret", m["secret"])
				require.NotNil(t, secret)
				assert.Equal(t, &corev1.SecretVolumeSource{SecretName: tt.wantSecret}, secret.Secret)
			}
			if tt.wantConfig == "" {
				assert.NotContains(t, e, "DATAMOVER_CERT_DIR")
				assert.NotContains(t, m, "certs")
				assert.Nil(t, certs)
			} else {
				assert.Equal(t, "/var/run/cdi/certs", e["DATAMOVER_CERT_DIR"])
				assert.Equal(t, "/var/run/cdi/certs", m["certs"])
				require.NotNil(t, certs)
				require.NotNil(t, certs.ConfigMap)
				assert.Equal(t, tt.wantConfig, certs.ConfigMap.Name)
			}
			for k, v := range e {
				assert.NotContains(t, v, "secretKey", "%s: credentials are files, never environment", k)
			}
		})
	}
}

func TestImportPodRequestFields(t *testing.T) {
	tests := []struct {
		name    string
		req     annotations.ImportRequest
		cfg     Config
		want    map[string]string // variables that must have these values
		wantNot []string          // variables that must be absent
	}{
		{"kubevirt", request(), testConfig,
			map[string]string{"DATAMOVER_CONTENT_TYPE": "kubevirt"}, nil},
		{"archive", request(withContentType("archive")), testConfig,
			map[string]string{"DATAMOVER_CONTENT_TYPE": "archive"}, nil},
		{"empty content type is kubevirt", request(withContentType("")), testConfig,
			map[string]string{"DATAMOVER_CONTENT_TYPE": "kubevirt"}, nil},
		{"checksum", request(withChecksum("sha256:0123abcd")), testConfig,
			map[string]string{"DATAMOVER_CHECKSUM": "sha256:0123abcd"}, nil},
		{"no checksum", request(), testConfig,
			nil, []string{"DATAMOVER_CHECKSUM"}},
		{"s3 with the claim's endpoint", request(withEndpoint("s3://bucket/disk.img"), withS3Endpoint("http://minio.store:9000")),
			Config{Image: "i", S3Endpoint: "http://default:9000"},
			map[string]string{"DATAMOVER_S3_ENDPOINT": "http://minio.store:9000", "DATAMOVER_SOURCE": "s3://bucket/disk.img"}, nil},
		{"s3 with the importer's default", request(withEndpoint("s3://bucket/disk.img")),
			Config{Image: "i", S3Endpoint: "http://default:9000"},
			map[string]string{"DATAMOVER_S3_ENDPOINT": "http://default:9000"}, nil},
		{"s3 on AWS", request(withEndpoint("s3://bucket/disk.img")), Config{Image: "i"},
			nil, []string{"DATAMOVER_S3_ENDPOINT"}},
		{"no S3 endpoint for http", request(), Config{Image: "i", S3Endpoint: "http://default:9000"},
			nil, []string{"DATAMOVER_S3_ENDPOINT"}},
		{"no sink, no token", request(), Config{Image: "i"},
			nil, []string{"DATAMOVER_SINK", "DATAMOVER_TOKEN_FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env(t, ImportPod(claim("c"), tt.req, tt.cfg))
			for k, v := range tt.want {
				assert.Equal(t, v, e[k], k)
			}
			for _, k := range tt.wantNot {
				assert.NotContains(t, e, k)
			}
		})
	}
}

func TestImportPodSizes(t *testing.T) {
	tests := []struct {
		name        string
		claim       *corev1.PersistentVolumeClaim
		cfg         Config
		wantSize    string // DATAMOVER_SIZE, "" when absent
		wantScratch string // emptyDir sizeLimit, "" when none
	}{
		{"10Gi", claim("c"), testConfig, "10737418240", "10Gi"},
		{"decimal", claim("c", withSize("5G")), testConfig, "5000000000", "5G"},
		{"odd bytes", claim("c", withSize("1073741825")), testConfig, "1073741825", "1073741825"},
		{"scratch size from config", claim("c"), Config{Image: "i", ScratchSize: ptr.To(resource.MustParse("2Gi"))}, "10737418240", "2Gi"},
		{"no request", claim("c", withoutSize()), testConfig, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ImportPod(tt.claim, request(), tt.cfg)
			e := env(t, p)
			if tt.wantSize == "" {
				assert.NotContains(t, e, "DATAMOVER_SIZE")
			} else {
				assert.Equal(t, tt.wantSize, e["DATAMOVER_SIZE"])
			}
			scratch := volume(p, "scratch")
			require.NotNil(t, scratch)
			require.NotNil(t, scratch.EmptyDir)
			if tt.wantScratch == "" {
				assert.Nil(t, scratch.EmptyDir.SizeLimit)
			} else {
				require.NotNil(t, scratch.EmptyDir.SizeLimit)
				assert.Equal(t, tt.wantScratch, scratch.EmptyDir.SizeLimit.String())
			}
			assert.Equal(t, "/scratch", e["DATAMOVER_SCRATCH"])
		})
	}
}

func TestImportPodConfig(t *testing.T) {
	custom := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	cfg := Config{Image: "img", PullPolicy: corev1.PullNever, Resources: custom}
	p := ImportPod(claim("c"), request(), cfg)
	ctr := container(t, p)
	assert.Equal(t, corev1.PullNever, ctr.ImagePullPolicy)
	assert.Equal(t, custom, ctr.Resources)

	// The pod does not share the config's maps: editing one pod's
	// resources must not change the next pod's.
	ctr.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Ti")
	assert.Equal(t, "1Gi", ptr.To(cfg.Resources.Limits[corev1.ResourceMemory]).String())
}

func TestImportPodLongClaimName(t *testing.T) {
	long := strings.Repeat("a", 60) + "-" + strings.Repeat("b", 100)
	other := strings.Repeat("a", 60) + "-" + strings.Repeat("c", 100)
	p := ImportPod(claim(long), request(), testConfig)
	q := ImportPod(claim(other), request(), testConfig)

	assert.Empty(t, validation.IsDNS1123Label(p.Name), "the pod name is a DNS label: %q", p.Name)
	assert.NotEqual(t, p.Name, q.Name, "long names that share a prefix get distinct pods")
	assert.Equal(t, long, p.Annotations[AnnotationClaimName], "the annotation keeps the full claim name")
	assert.Equal(t, long, volume(p, "data").PersistentVolumeClaim.ClaimName)
	assert.Equal(t, long, env(t, p)["DATAMOVER_CLAIM_NAME"])
	assert.Equal(t, p.Name, ImportPodName(long), "the builder and the contract agree")
}

func TestImportPodDoesNotShareClaimState(t *testing.T) {
	c := claim("c")
	p := ImportPod(c, request(), testConfig)
	volume(p, "scratch").EmptyDir.SizeLimit.Set(1)
	assert.Equal(t, "10Gi", ptr.To(c.Spec.Resources.Requests[corev1.ResourceStorage]).String())
}
