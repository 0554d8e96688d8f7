package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
)

// knownEnv is every environment variable a flag set reads.
func knownEnv(fs *flag.FlagSet) map[string]bool {
	known := map[string]bool{events.SinkEnv: true}
	fs.VisitAll(func(fl *flag.Flag) { known[envName(fl.Name)] = true })
	return known
}

// TestClonePodContract: the clone data pods' variables of the contract
// (pkg/datapod) are read by the clone commands and mean what they say;
// TestClonePodsContract checks the cloner's pod builders.
func TestClonePodContract(t *testing.T) {
	var tf cloneTargetFlags
	var sf cloneSourceFlags
	var rf reportFlags
	targetEnv := knownEnv(cloneTargetFlagSet(&tf, &rf, io.Discard))
	sourceEnv := knownEnv(cloneSourceFlagSet(&sf, &rf, io.Discard))
	for _, name := range []string{datapod.EnvListen, datapod.EnvTarget, datapod.EnvSize, datapod.EnvCredentialFile, datapod.EnvTLSCert,
		datapod.EnvTLSKey, datapod.EnvIdleTimeout, datapod.EnvSink, datapod.EnvTokenFile, datapod.EnvClaimUID, datapod.EnvTerminationLog} {
		assert.Truef(t, targetEnv[name], "clone-target does not read %s", name)
	}
	for _, name := range []string{datapod.EnvSource, datapod.EnvContentType, datapod.EnvTargetAddress, datapod.EnvCredentialFile,
		datapod.EnvTLSCA, datapod.EnvTLSServerName, datapod.EnvCompress, datapod.EnvSink, datapod.EnvTerminationLog} {
		assert.Truef(t, sourceEnv[name], "clone-source does not read %s", name)
	}

	env := map[string]string{
		datapod.EnvListen: ":9443", datapod.EnvTarget: datapod.DataDir, datapod.EnvSize: "2Gi", datapod.EnvIdleTimeout: "5m",
		datapod.EnvCredentialFile: "/cred/c", datapod.EnvTLSCert: "/cred/crt", datapod.EnvTLSKey: "/cred/key",
		datapod.EnvSource: datapod.BlockDevice, datapod.EnvContentType: "archive", datapod.EnvTargetAddress: "10.0.0.7:9443",
		datapod.EnvTLSCA: "/cred/ca", datapod.EnvTLSServerName: "u.clone.cdi-functions.invalid", datapod.EnvCompress: "none",
	}
	getenv := func(k string) string { return env[k] }
	gotT, _, err := parseCloneTarget(nil, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, cloneTargetFlags{listen: ":9443", target: datapod.DataDir, size: "2Gi", credentialFile: "/cred/c", tlsCert: "/cred/crt",
		tlsKey: "/cred/key", stall: 30 * time.Second, idle: 5 * time.Minute}, gotT)
	gotS, _, err := parseCloneSource(nil, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, cloneSourceFlags{source: datapod.BlockDevice, contentType: "archive", targetAddress: "10.0.0.7:9443", credentialFile: "/cred/c",
		tlsCA: "/cred/ca", tlsServerName: "u.clone.cdi-functions.invalid", compress: "none", maxRetries: 8, stall: 30 * time.Second}, gotS)
}

// podEnv is the environment of pod's container, each variable checked to
// be one the command reads; downward API values read "downward:<path>".
func podEnv(t *testing.T, pod *corev1.Pod, known map[string]bool) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range pod.Spec.Containers[0].Env {
		assert.Truef(t, known[e.Name], "pod %s sets %s, which its command does not read", pod.Name, e.Name)
		v := e.Value
		if e.ValueFrom != nil {
			v = "downward:" + e.ValueFrom.FieldRef.FieldPath
		}
		env[e.Name] = v
	}
	return env
}

// TestClonePodsContract: the pods the cloner builds (datapod.CloneTargetPod,
// CloneSourcePod) run the clone commands with settings those commands
// read, and the source dials the target's Service with the target's
// server name.
func TestClonePodsContract(t *testing.T) {
	var tf cloneTargetFlags
	var sf cloneSourceFlags
	var rf reportFlags
	targetKnown := knownEnv(cloneTargetFlagSet(&tf, &rf, io.Discard))
	sourceKnown := knownEnv(cloneSourceFlagSet(&sf, &rf, io.Discard))
	cfg := datapod.Config{Image: "datamover:test", Sink: "http://cdi-updater.cdi.svc.cluster.local"}
	for _, tc := range []struct {
		name           string
		source, target *corev1.PersistentVolumeClaim
		path           string
	}{
		{name: "filesystem", source: gen.Claim("golden-pvc", gen.InNamespace("golden")),
			target: gen.Claim("clone", gen.WithCloneRequest("golden/golden-pvc"), gen.WithSize("2Gi")), path: datapod.DataDir},
		{name: "block", source: gen.Claim("golden-pvc", gen.InNamespace("golden"), gen.WithBlock()),
			target: gen.Claim("clone", gen.WithCloneRequest("golden/golden-pvc"), gen.WithSize("2Gi"), gen.WithBlock()), path: datapod.BlockDevice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := datapod.CloneTargetPod(tc.target, cfg)
			require.Equal(t, []string{"clone-target"}, tp.Spec.Containers[0].Args)
			env := podEnv(t, tp, targetKnown)
			got, grf, err := parseCloneTarget(nil, func(k string) string { return env[k] }, io.Discard)
			require.NoError(t, err)
			dir := datapod.CloneCredentialDir + "/"
			assert.Equal(t, cloneTargetFlags{listen: ":8443", target: tc.path, size: "2147483648", credentialFile: dir + datapod.CredentialKey,
				tlsCert: dir + datapod.TLSCertKey, tlsKey: dir + datapod.TLSKeyKey, stall: 30 * time.Second, idle: 10 * time.Minute}, got)
			assert.Equal(t, string(tc.target.UID), grf.claimUID, "the target reports about its claim")
			assert.Equal(t, cfg.Sink, grf.sink)

			sp := datapod.CloneSourcePod(tc.source, tc.target, cfg)
			require.Equal(t, []string{"clone-source"}, sp.Spec.Containers[0].Args)
			env = podEnv(t, sp, sourceKnown)
			gotS, srf, err := parseCloneSource(nil, func(k string) string { return env[k] }, io.Discard)
			require.NoError(t, err)
			assert.Equal(t, cloneSourceFlags{source: tc.path, contentType: "kubevirt",
				targetAddress:  datapod.CloneServiceName(string(tc.target.UID)) + "." + tc.target.Namespace + ".svc:8443",
				credentialFile: dir + datapod.CredentialKey, tlsCA: dir + datapod.CACertKey,
				tlsServerName: podcred.CloneServerName(string(tc.target.UID)), compress: "auto", maxRetries: 8, stall: 30 * time.Second}, gotS)
			assert.Empty(t, srf.sink, "the source reports nothing: the target does")
			assert.Equal(t, "golden", sp.Namespace)
		})
	}
}
