package main

import (
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/source"
)

// readEnv is every environment variable the data mover reads: one per
// flag of the import command, and K_SINK.
func readEnv() map[string]bool {
	var f importFlags
	var rf reportFlags
	known := map[string]bool{events.SinkEnv: true}
	importFlagSet(&f, &rf, io.Discard).VisitAll(func(fl *flag.Flag) { known[envName(fl.Name)] = true })
	return known
}

// TestDataPodContract builds data pods with pkg/datapod, as the importer
// does, and parses their container's environment with the data mover's
// own flags: every variable a pod sets is one the data mover reads, and
// it reads them as the pod means them.
func TestDataPodContract(t *testing.T) {
	cfg := datapod.Config{Image: "datamover:test", Sink: "http://cdi-updater.cdi.svc.cluster.local",
		S3Endpoint: "http://minio.store:9000", EgressDeny: "10.96.0.0/12, 10.244.0.0/16", EgressAllow: "10.96.0.80/32"}
	defaults := importFlags{contentType: annotations.ContentTypeKubeVirt, maxRetries: source.DefaultMaxRetries,
		stall: source.DefaultStallTimeout, minRate: "10Ki", rateWindow: source.DefaultMinRateWindow, deadline: source.DefaultDeadline}
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		cfg   datapod.Config
		want  func(*importFlags)
		// wantSink: the pod reports to cfg.Sink with its token (the
		// claim's and the pod's names are always set).
		wantSink bool
	}{
		{
			name: "HTTP into a Filesystem claim, no sink", claim: gen.ImportClaim("golden"),
			cfg: datapod.Config{Image: "datamover:test"},
			want: func(f *importFlags) {
				f.source, f.target, f.size, f.scratch = "http://images.example/disk.img", datapod.DataDir, "10737418240", datapod.ScratchDir
			},
		},
		{
			name: "everything a claim can ask for",
			claim: gen.ImportClaim("golden", gen.WithEndpoint("https://images.example/disk.qcow2.xz"), gen.WithSecret("creds"),
				gen.WithCertConfigMap("ca"), gen.WithAnnotation(annotations.Checksum, "sha256:"+strings.Repeat("ab", 32)),
				gen.WithAnnotation(annotations.ContentType, annotations.ContentTypeArchive), gen.WithSize("2Gi")),
			cfg: cfg, wantSink: true,
			want: func(f *importFlags) {
				f.source, f.target, f.size, f.scratch = "https://images.example/disk.qcow2.xz", datapod.DataDir, "2147483648", datapod.ScratchDir
				f.secretDir, f.certDir, f.checksum = datapod.SecretDir, datapod.CertDir, "sha256:"+strings.Repeat("ab", 32)
				f.contentType = annotations.ContentTypeArchive
				f.egressDeny, f.egressAllow = cfg.EgressDeny, cfg.EgressAllow
			},
		},
		{
			name:  "S3 into a Block claim, the importer's default endpoint",
			claim: gen.ImportClaim("blk", gen.WithEndpoint("s3://images/disk.img"), gen.WithBlock()),
			cfg:   cfg, wantSink: true,
			want: func(f *importFlags) {
				f.source, f.target, f.size, f.scratch = "s3://images/disk.img", datapod.BlockDevice, "10737418240", datapod.ScratchDir
				f.s3Endpoint = cfg.S3Endpoint
				f.egressDeny, f.egressAllow = cfg.EgressDeny, cfg.EgressAllow
			},
		},
		{
			name: "S3 with the claim's own endpoint",
			claim: gen.ImportClaim("own", gen.WithEndpoint("s3://images/disk.img"),
				gen.WithAnnotation(annotations.S3Endpoint, "https://s3.store.example")),
			cfg: cfg, wantSink: true,
			want: func(f *importFlags) {
				f.source, f.target, f.size, f.scratch = "s3://images/disk.img", datapod.DataDir, "10737418240", datapod.ScratchDir
				f.s3Endpoint = "https://s3.store.example"
				f.egressDeny, f.egressAllow = cfg.EgressDeny, cfg.EgressAllow
			},
		},
	}
	known := readEnv()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, ok := annotations.ImportRequestOf(tt.claim.Annotations)
			require.True(t, ok)
			pod := datapod.ImportPod(tt.claim, req, tt.cfg)
			require.Len(t, pod.Spec.Containers, 1)
			c := pod.Spec.Containers[0]
			require.NotEmpty(t, c.Args)
			require.Equal(t, "import", c.Args[0])

			env := map[string]string{}
			for _, e := range c.Env {
				assert.Truef(t, known[e.Name], "the data pod sets %s, which the data mover does not read", e.Name)
				assert.NotContains(t, env, e.Name, "set twice")
				v := e.Value
				if e.ValueFrom != nil {
					require.NotNil(t, e.ValueFrom.FieldRef, "%s: only the downward API", e.Name)
					v = "downward:" + e.ValueFrom.FieldRef.FieldPath
				}
				env[e.Name] = v
			}

			f, rf, err := parseImport(c.Args[1:], func(k string) string { return env[k] }, io.Discard)
			require.NoError(t, err)
			want := defaults
			tt.want(&want)
			assert.Equal(t, want, f)

			wantReport := reportFlags{claimNamespace: tt.claim.Namespace, claimName: tt.claim.Name, claimUID: string(tt.claim.UID),
				podName: "downward:metadata.name", podUID: "downward:metadata.uid", terminationLog: datapod.TerminationLog, eventTimeout: defaultEventTimeout}
			if tt.wantSink {
				wantReport.sink, wantReport.tokenFile = tt.cfg.Sink, auth.TokenFile
			}
			assert.Equal(t, wantReport, rf)

			// The settings are valid for the data mover, and mean what
			// the importer's configuration says.
			opts, err := f.sourceOptions(nil)
			require.NoError(t, err)
			assert.Equal(t, int64(10<<10), opts.MinRate)
			assert.Equal(t, source.DefaultDeadline, opts.Deadline)
			for addr, denied := range map[string]bool{"169.254.169.254": true, "127.0.0.1": true, "192.0.2.1": false,
				"10.96.0.1": tt.cfg.EgressDeny != "", "10.96.0.80": false} {
				assert.Equalf(t, denied, opts.Egress.Check(netip.MustParseAddr(addr)) != nil, "%s denied", addr)
			}
		})
	}
}

// TestContractNames: every variable of the data pod contract
// (pkg/datapod) is one the data mover reads.
func TestContractNames(t *testing.T) {
	known := readEnv()
	for _, name := range []string{
		datapod.EnvSource, datapod.EnvTarget, datapod.EnvContentType, datapod.EnvSize, datapod.EnvChecksum,
		datapod.EnvS3Endpoint, datapod.EnvSecretDir, datapod.EnvCertDir, datapod.EnvScratch, datapod.EnvSink,
		datapod.EnvTokenFile, datapod.EnvSinkTokenFile, datapod.EnvClaimNamespace, datapod.EnvClaimName, datapod.EnvClaimUID,
		datapod.EnvPodName, datapod.EnvPodUID, datapod.EnvTerminationLog, datapod.EnvEgressDeny, datapod.EnvEgressAllow,
	} {
		assert.Truef(t, known[name], "%s is in the contract but the data mover does not read it", name)
		assert.Truef(t, strings.HasPrefix(name, datapod.EnvPrefix), "%s", name)
	}
	assert.Equal(t, datapod.EnvPrefix, envPrefix)
}

// TestUploadPodContract: the upload data pod (pkg/datapod.UploadPod) runs
// "receive", and every variable it sets is one the receive command reads,
// meaning what the pod means.
func TestUploadPodContract(t *testing.T) {
	var f receiveFlags
	var rf reportFlags
	known := map[string]bool{events.SinkEnv: true}
	receiveFlagSet(&f, &rf, io.Discard).VisitAll(func(fl *flag.Flag) { known[envName(fl.Name)] = true })

	cfg := datapod.Config{Image: "datamover:test", Sink: "http://cdi-updater.cdi.svc.cluster.local"}
	for _, claim := range []*corev1.PersistentVolumeClaim{gen.ImportClaim("up", gen.WithSize("2Gi")), gen.ImportClaim("blk", gen.WithBlock())} {
		pod := datapod.UploadPod(claim, "cred", cfg)
		c := pod.Spec.Containers[0]
		require.Equal(t, []string{"receive"}, c.Args)
		env := map[string]string{}
		for _, e := range c.Env {
			assert.Truef(t, known[e.Name], "the upload pod sets %s, which receive does not read", e.Name)
			v := e.Value
			if e.ValueFrom != nil {
				v = "downward:" + e.ValueFrom.FieldRef.FieldPath
			}
			env[e.Name] = v
		}
		got, grf, err := parseReceive(nil, func(k string) string { return env[k] }, io.Discard)
		require.NoError(t, err)
		want := receiveFlags{listen: ":8443", target: datapod.DataDir, size: "2147483648", scratch: datapod.ScratchDir,
			contentType: "kubevirt", credentialFile: datapod.CredentialDir + "/" + datapod.CredentialKey,
			tlsCert: datapod.CredentialDir + "/" + datapod.TLSCertKey, tlsKey: datapod.CredentialDir + "/" + datapod.TLSKeyKey}
		if claim.Name == "blk" {
			want.target, want.size = datapod.BlockDevice, "10737418240"
		}
		assert.Equal(t, want, got)
		assert.Equal(t, reportFlags{sink: cfg.Sink, tokenFile: auth.TokenFile, claimNamespace: claim.Namespace, claimName: claim.Name,
			claimUID: string(claim.UID), podName: "downward:metadata.name", podUID: "downward:metadata.uid", terminationLog: datapod.TerminationLog, eventTimeout: defaultEventTimeout}, grf)
	}
	for _, name := range []string{datapod.EnvListen, datapod.EnvCredentialFile, datapod.EnvTLSCert, datapod.EnvTLSKey} {
		assert.True(t, known[name], "%s is in the contract but receive does not read it", name)
	}
}
