package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// TestImportEgress: an address the egress policy refuses ends the import
// at once with the permanent exit status, a message naming the address,
// a permanent failure event, and no connection made.
func TestImportEgress(t *testing.T) {
	target := sourcetest.NewUntouched(t)
	tests := []struct {
		name string
		url  string
		env  map[string]string
		want string
	}{
		{name: "cloud metadata", url: "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
			want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "cloud metadata, even with everything allowed", url: "http://169.254.169.254/latest/",
			env:  map[string]string{datapod.EnvEgressAllow: "0.0.0.0/0,::/0"},
			want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "loopback, default policy", url: "http://127.0.0.1:" + target.Port + "/disk.img", env: map[string]string{datapod.EnvEgressAllow: ""},
			want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "loopback by name, refused at dial time", url: "http://localhost:" + target.Port + "/disk.img",
			env: map[string]string{datapod.EnvEgressAllow: "127.0.0.2/32"}, want: "is loopback: refused by the egress policy"},
		{name: "S3 endpoint", url: "s3://images/disk.img", env: map[string]string{datapod.EnvS3Endpoint: "http://[fe80::1]:9000"},
			want: "fe80::1 is link-local: refused by the egress policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t)
			dir := t.TempDir()
			env := map[string]string{"K_SINK": s.url, datapod.EnvClaimNamespace: "default", datapod.EnvClaimName: "golden-pvc",
				datapod.EnvClaimUID: "uid-1", "DATAMOVER_MAX_RETRIES": "3"}
			for k, v := range tt.env {
				env[k] = v
			}
			o := invocation{args: []string{"import", "--source", tt.url, "--target", dir}, env: env}.run(t)
			requireRefused(t, o, dir, tt.want)
			assert.NotContains(t, o.stderr, "retrying", "a refusal is not retried")

			phases := s.ofType(events.DataPodPhase)
			require.Len(t, phases, 1)
			var p events.DataPodPhasePayload
			require.NoError(t, events.Decode(phases[0], events.DataPodPhase, &p))
			assert.Equal(t, events.PodFailed, p.Phase)
			assert.Equal(t, reason.ImportFailed, p.Reason)
			assert.True(t, p.Permanent, "restarting cannot help")
			assert.Contains(t, p.Message, tt.want)
			target.RequireUntouched(t)
		})
	}
}

func TestImportEgressSettings(t *testing.T) {
	data := []byte("a raw disk, 512 bytes at least: " + string(make([]byte, 600)))
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: data})
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     string
	}{
		{name: "loopback allowed by a test", env: map[string]string{datapod.EnvEgressAllow: "127.0.0.1/32"}, wantCode: exitOK, want: "imported"},
		{name: "allowed by flag", args: []string{"--egress-allow", "127.0.0.1"}, env: map[string]string{datapod.EnvEgressAllow: ""}, wantCode: exitOK, want: "imported"},
		{name: "the flag wins", args: []string{"--egress-allow", "127.0.0.2"}, env: map[string]string{datapod.EnvEgressAllow: "127.0.0.1"},
			wantCode: exitError, want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "bad deny list", env: map[string]string{datapod.EnvEgressDeny: "10.96.0.0/12 10.244.0.0/33"}, wantCode: exitUsage,
			want: `error: DATAMOVER_EGRESS_DENY: item 2 "10.244.0.0/33": not a CIDR`},
		{name: "bad allow list", env: map[string]string{datapod.EnvEgressAllow: "images.cdi.svc"}, wantCode: exitUsage,
			want: `error: DATAMOVER_EGRESS_ALLOW: item 1 "images.cdi.svc": not an IP address or CIDR`},
		{name: "bad minimum rate", args: []string{"--min-rate", "fast"}, wantCode: exitUsage, want: `--min-rate: size "fast"`},
		{name: "bad rate window", env: map[string]string{"DATAMOVER_MIN_RATE_WINDOW": "-1s"}, wantCode: exitUsage, want: "--min-rate-window -1s: want a positive duration"},
		{name: "bad deadline", args: []string{"--deadline", "-1h"}, wantCode: exitUsage, want: "--deadline -1h0m0s"},
		{name: "no minimum rate, no deadline", args: []string{"--min-rate", "0", "--deadline", "0"}, wantCode: exitOK, want: "imported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"import", "--source", srv.URL + "/disk.img", "--target", dir}, tt.args...)
			o := invocation{args: args, env: tt.env}.run(t)
			require.Equal(t, tt.wantCode, o.code, o.stderr)
			assert.Contains(t, o.lastLine(), tt.want)
		})
	}
}

// TestImportRedactsTheSource: the URL's query (a signature) appears in no
// line the data mover writes, the success line included.
func TestImportRedactsTheSource(t *testing.T) {
	data := make([]byte, 4096)
	copy(data, "not zeros")
	srv := sourcetest.NewServer(t, sourcetest.Config{Data: data})
	missing := sourcetest.NewServer(t, sourcetest.Config{FailEvery: 1})
	signed := "/disk.img?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=0123456789abcdef"
	tests := []struct {
		name, url string
		wantCode  int
		want      string
	}{
		{name: "success", url: srv.URL + signed, wantCode: exitOK, want: "imported " + srv.URL + "/disk.img?… (raw) to "},
		{name: "failure", url: missing.URL + signed, wantCode: exitRetryable, want: "GET " + missing.URL + "/disk.img?…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := invocation{args: []string{"import", "--source", tt.url, "--target", dir, "--max-retries", "1"}}.run(t)
			require.Equal(t, tt.wantCode, o.code, o.stderr)
			assert.Contains(t, o.lastLine(), tt.want)
			for _, secret := range []string{"0123456789abcdef", "AKIDEXAMPLE"} {
				assert.NotContains(t, o.stderr, secret)
			}
			if tt.wantCode == exitOK {
				assert.FileExists(t, filepath.Join(dir, "disk.img"))
			}
		})
	}
}
