package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// knownEnv is every environment variable a flag set reads.
func knownEnv(fs *flag.FlagSet) map[string]bool {
	known := map[string]bool{events.SinkEnv: true}
	fs.VisitAll(func(fl *flag.Flag) { known[envName(fl.Name)] = true })
	return known
}

// TestClonePodContract: the clone data pods' variables of the contract
// (pkg/datapod) are read by the clone commands and mean what they say.
// The cloner's pod builders (issue 9, later) must be added here, as
// TestUploadPodContract does with datapod.UploadPod.
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
