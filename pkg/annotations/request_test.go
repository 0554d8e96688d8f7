package annotations

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImportRequestOf(t *testing.T) {
	_, ok := ImportRequestOf(map[string]string{"other": "x"})
	assert.False(t, ok)

	req, ok := ImportRequestOf(map[string]string{Endpoint: " https://download.cirros-cloud.net/0.4.0/cirros-0.4.0-x86_64-disk.img ", SecretName: "s"})
	require.True(t, ok)
	assert.Equal(t, ImportRequest{Endpoint: "https://download.cirros-cloud.net/0.4.0/cirros-0.4.0-x86_64-disk.img", SecretName: "s", ContentType: ContentTypeKubeVirt}, req)
	assert.NoError(t, req.Validate())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		endpoint, contentType, want string
	}{
		{"http://host/disk.img", "kubevirt", ""},
		{"s3://bucket/key", "archive", ""},
		{"ftp://host/disk.img", "kubevirt", `scheme "ftp" is not supported`},
		{"/local/path", "kubevirt", `scheme "" is not supported`},
		{"http:///nohost", "kubevirt", "has no host"},
		{"http://host/x", "iso", `content type "iso"`},
		{"http://[::1", "kubevirt", "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			err := ImportRequest{Endpoint: tt.endpoint, ContentType: tt.contentType}.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.want)
			}
		})
	}
}

func TestStatusRoundTrip(t *testing.T) {
	s := Status{Phase: PhaseRunning, Progress: "45.20%", Restarts: 2, Reason: "Running", Message: "importing"}
	assert.Equal(t, s, StatusOf(s.Annotations()))
	assert.Equal(t, map[string]string{PodPhase: PhasePending}, Status{Phase: PhasePending}.Annotations())
	assert.True(t, Final(PhaseSucceeded))
	assert.True(t, Final(PhaseFailed))
	assert.False(t, Final(PhaseRunning))
}

func TestValidateS3Endpoint(t *testing.T) {
	tests := []struct {
		endpoint, s3Endpoint, want string
	}{
		{"s3://bucket/key", "http://minio.example:9000", ""},
		{"s3://bucket/key", "https://s3.example", ""},
		{"https://host/disk.img", "http://minio.example:9000", "is not an s3:// URL"},
		{"s3://bucket/key", "minio.example:9000", "must be an http:// or https:// URL"},
		{"s3://bucket/key", "http://", "must be an http:// or https:// URL"},
		{"s3://bucket/key", "http://[::1", "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint+" "+tt.s3Endpoint, func(t *testing.T) {
			req, ok := ImportRequestOf(map[string]string{Endpoint: tt.endpoint, S3Endpoint: " " + tt.s3Endpoint + " "})
			require.True(t, ok)
			assert.Equal(t, tt.s3Endpoint, req.S3Endpoint, "read and trimmed")
			err := req.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.want)
			}
		})
	}
}
