package annotations

import (
	"strings"
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
	sha := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name string
		ann  map[string]string
		// want: annotation -> text its error contains; empty: valid.
		want map[string]string
	}{
		{"http", map[string]string{Endpoint: "http://host/disk.img"}, nil},
		{"s3 archive", map[string]string{Endpoint: "s3://bucket/key", ContentType: "archive"}, nil},
		{"everything valid", map[string]string{Endpoint: "https://host/disk.img", SecretName: "endpoint-secret",
			CertConfigMap: "ca.bundle", Checksum: sha}, nil},
		{"ftp", map[string]string{Endpoint: "ftp://host/disk.img"}, map[string]string{Endpoint: `scheme "ftp" is not supported`}},
		{"a path", map[string]string{Endpoint: "/local/path"}, map[string]string{Endpoint: `scheme "" is not supported`}},
		{"file URL", map[string]string{Endpoint: "file:///etc/shadow"}, map[string]string{Endpoint: `scheme "file" is not supported`}},
		{"no host", map[string]string{Endpoint: "http:///nohost"}, map[string]string{Endpoint: "has no host"}},
		{"not a URL", map[string]string{Endpoint: "http://[::1"}, map[string]string{Endpoint: "is not a URL"}},
		{"credentials in the URL", map[string]string{Endpoint: "https://user:hunter2@host/disk.img"},
			map[string]string{Endpoint: "credentials in the URL are not accepted: put them in a Secret named by " + SecretName}},
		{"content type", map[string]string{Endpoint: "http://host/x", ContentType: "iso"},
			map[string]string{ContentType: `"iso" is not supported`}},
		{"checksum without algorithm", map[string]string{Endpoint: "http://host/x", Checksum: "abcdef"},
			map[string]string{Checksum: "want ALG:HEX"}},
		{"checksum not hex", map[string]string{Endpoint: "http://host/x", Checksum: "sha256:zz"},
			map[string]string{Checksum: "not hexadecimal"}},
		{"checksum too short", map[string]string{Endpoint: "http://host/x", Checksum: "sha256:abcd"},
			map[string]string{Checksum: "64 hex digits"}},
		{"secret name", map[string]string{Endpoint: "http://host/x", SecretName: "Bad_Name"},
			map[string]string{SecretName: `"Bad_Name" is not a valid object name`}},
		{"config map name", map[string]string{Endpoint: "http://host/x", CertConfigMap: "../etc"},
			map[string]string{CertConfigMap: `"../etc" is not a valid object name`}},
		{"all at once", map[string]string{Endpoint: "ftp://h/x", ContentType: "iso", Checksum: "x", SecretName: "A"},
			map[string]string{Endpoint: "ftp", ContentType: "iso", Checksum: "ALG:HEX", SecretName: "not a valid object name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, ok := ImportRequestOf(tt.ann)
			require.True(t, ok)
			err := req.Validate()
			if len(tt.want) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "hunter2", "credentials are never repeated")
			for annotation, text := range tt.want {
				assert.Contains(t, err.Error(), "annotation "+annotation+": ", "the error names the annotation")
				assert.Contains(t, err.Error(), text)
			}
			var inv *InvalidError
			assert.ErrorAs(t, err, &inv)
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

// TestValidateNeverRepeatsCredentials: user info that does not parse as
// such (no scheme) is not repeated either.
func TestValidateNeverRepeatsCredentials(t *testing.T) {
	for _, tt := range []ImportRequest{
		{Endpoint: "s3://bucket/key", S3Endpoint: "AKIAEXAMPLE:s3cretKey@minio:9000", ContentType: ContentTypeKubeVirt},
		{Endpoint: "AKIAEXAMPLE:s3cretKey@images.example/disk.img", ContentType: ContentTypeKubeVirt},
	} {
		err := tt.Validate()
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cretKey")
	}
}
