package datapod

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(*testing.T, configView)
		wantErr string
	}{
		{
			name: "defaults",
			env:  map[string]string{"DATAMOVER_IMAGE": "img", "DATAMOVER_SINK": "http://cdi-updater.cdi.svc.cluster.local"},
			check: func(t *testing.T, c configView) {
				assert.Equal(t, configView{image: "img", sink: "http://cdi-updater.cdi.svc.cluster.local", pull: corev1.PullIfNotPresent}, c)
			},
		},
		{
			name: "K_SINK when DATAMOVER_SINK is unset",
			env:  map[string]string{"DATAMOVER_IMAGE": "img", "K_SINK": "http://broker.example/ns/default"},
			check: func(t *testing.T, c configView) {
				assert.Equal(t, "http://broker.example/ns/default", c.sink)
			},
		},
		{
			name: "K_SINK (the SinkBinding's Broker) wins over DATAMOVER_SINK",
			env:  map[string]string{"DATAMOVER_IMAGE": "img", "DATAMOVER_SINK": "http://a.example", "K_SINK": "http://b.example"},
			check: func(t *testing.T, c configView) {
				assert.Equal(t, "http://b.example", c.sink)
			},
		},
		{
			name: "everything set",
			env: map[string]string{"DATAMOVER_IMAGE": "img", "DATAMOVER_PULL_POLICY": "Never",
				"S3_ENDPOINT": "http://minio.store:9000", "DATAMOVER_SCRATCH_SIZE": "20Gi"},
			check: func(t *testing.T, c configView) {
				assert.Equal(t, configView{image: "img", pull: corev1.PullNever, s3: "http://minio.store:9000", scratch: "20Gi"}, c)
			},
		},
		{
			name: "privileged data pods",
			env:  map[string]string{"DATAMOVER_IMAGE": "img", "DATAMOVER_PRIVILEGED": "true"},
			check: func(t *testing.T, c configView) {
				assert.True(t, c.privileged)
			},
		},
		{
			name: "resources for a namespace that requires CPU limits",
			env: map[string]string{"DATAMOVER_IMAGE": "img", "DATAMOVER_CPU_LIMIT": "2", "DATAMOVER_MEMORY_REQUEST": "256Mi",
				"DATAMOVER_MEMORY_LIMIT": "1Gi"},
			check: func(t *testing.T, c configView) {
				assert.Equal(t, "cpu=100m memory=256Mi / cpu=2 memory=1Gi", c.resources)
			},
		},
		{name: "bad privileged", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_PRIVILEGED": "yes"}, wantErr: `DATAMOVER_PRIVILEGED "yes"`},
		{name: "bad cpu", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_CPU_LIMIT": "lots"}, wantErr: `DATAMOVER_CPU_LIMIT "lots"`},
		{name: "request above limit", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_MEMORY_REQUEST": "2Gi"}, wantErr: "memory request 2Gi is above its limit 512Mi"},
		{name: "no image", env: map[string]string{}, wantErr: "DATAMOVER_IMAGE is not set"},
		{name: "bad pull policy", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_PULL_POLICY": "Sometimes"}, wantErr: `DATAMOVER_PULL_POLICY "Sometimes"`},
		{name: "bad sink", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_SINK": "cdi-updater"}, wantErr: "data pod sink"},
		{name: "bad S3 endpoint", env: map[string]string{"DATAMOVER_IMAGE": "i", "S3_ENDPOINT": "minio:9000"}, wantErr: "S3_ENDPOINT"},
		{name: "bad scratch size", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_SCRATCH_SIZE": "-1Gi"}, wantErr: "DATAMOVER_SCRATCH_SIZE"},
		{
			name: "egress settings",
			env:  map[string]string{"DATAMOVER_IMAGE": "img", "DATAMOVER_EGRESS_DENY": "10.96.0.0/12,10.244.0.0/16", "DATAMOVER_EGRESS_ALLOW": "10.96.0.80/32"},
			check: func(t *testing.T, c configView) {
				assert.Equal(t, "10.96.0.0/12,10.244.0.0/16", c.egressDeny, "handed to the data pods as they are")
				assert.Equal(t, "10.96.0.80/32", c.egressAllow)
			},
		},
		{name: "bad egress deny", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_EGRESS_DENY": "10.96.0.0/12,kubernetes.default"},
			wantErr: `DATAMOVER_EGRESS_DENY: item 2 "kubernetes.default": not an IP address or CIDR`},
		{name: "bad egress allow", env: map[string]string{"DATAMOVER_IMAGE": "i", "DATAMOVER_EGRESS_ALLOW": "10.96.0.80/33"},
			wantErr: `DATAMOVER_EGRESS_ALLOW: item 1 "10.96.0.80/33": not a CIDR`},
		{name: "default S3 endpoint refused by the egress policy", env: map[string]string{"DATAMOVER_IMAGE": "i", "S3_ENDPOINT": "http://169.254.169.254:9000"},
			wantErr: "S3_ENDPOINT: 169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "default S3 endpoint in a denied network", env: map[string]string{"DATAMOVER_IMAGE": "i", "S3_ENDPOINT": "http://10.96.0.9:9000",
			"DATAMOVER_EGRESS_DENY": "10.96.0.0/12"}, wantErr: "S3_ENDPOINT: 10.96.0.9 is in 10.96.0.0/12"},
		{name: "default S3 endpoint allowed", env: map[string]string{"DATAMOVER_IMAGE": "i", "S3_ENDPOINT": "http://10.96.0.9:9000",
			"DATAMOVER_EGRESS_DENY": "10.96.0.0/12", "DATAMOVER_EGRESS_ALLOW": "10.96.0.9"},
			check: func(t *testing.T, c configView) { assert.Equal(t, "http://10.96.0.9:9000", c.s3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			v := configView{image: cfg.Image, sink: cfg.Sink, pull: cfg.PullPolicy, s3: cfg.S3Endpoint, privileged: cfg.Privileged,
				egressDeny: cfg.EgressDeny, egressAllow: cfg.EgressAllow}
			if res := cfg.Resources; !equalResources(res, DefaultResources()) {
				v.resources = list(res.Requests) + " / " + list(res.Limits)
			}
			if cfg.ScratchSize != nil {
				v.scratch = cfg.ScratchSize.String()
			}
			tt.check(t, v)
		})
	}
}

// configView is a comparable summary of a datapod.Config.
type configView struct {
	image, sink, s3, scratch string
	egressDeny, egressAllow  string
	pull                     corev1.PullPolicy
	privileged               bool
	// resources is "requests / limits" when they are not the defaults.
	resources string
}

func list(l corev1.ResourceList) string {
	return "cpu=" + quantity(l, corev1.ResourceCPU) + " memory=" + quantity(l, corev1.ResourceMemory)
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		return "none"
	}
	return q.String()
}

func equalResources(a, b corev1.ResourceRequirements) bool {
	return list(a.Requests) == list(b.Requests) && list(a.Limits) == list(b.Limits)
}
