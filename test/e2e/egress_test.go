//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testNoTrafficLeftTheCluster fails if, while the other tests ran, any
// cluster component or pod had a socket connected outside loopback and the
// cluster's networks, or if the guard chains rejected anything (a DNS lookup
// to the machine's resolver by a component would be rejected and counted).
func testNoTrafficLeftTheCluster(t *testing.T) {
	require.NoError(t, e2e.stopWatcher(), "socket sampling")
	r := e2e.watcher.Report()
	t.Logf("sampled %d times: %d host processes, %d pod network namespaces", r.Samples, r.HostProcesses, r.PodNetworks)
	assert.Greater(t, r.Samples, 10, "samples taken")
	assert.GreaterOrEqual(t, r.HostProcesses, 8, "host components seen (registry, etcd, apiserver, kcm, scheduler, containerd, kubelet, kube-proxy)")
	assert.GreaterOrEqual(t, r.PodNetworks, 2, "pod network namespaces seen")
	for _, v := range r.Violations {
		t.Errorf("socket outside the cluster: %s", v)
	}

	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, chain := range []string{"CDI-CLUSTER-GUARD", "CDI-CLUSTER-EGRESS"} {
			n, err := rejected(tool, chain)
			require.NoError(t, err)
			assert.Zero(t, n, "%s %s rejected packets", tool, chain)
		}
	}
}

// rejected sums the packet counters of the REJECT rules of chain.
func rejected(tool, chain string) (int, error) {
	out, err := exec.Command(tool, "-w", "-L", chain, "-v", "-n", "-x").Output()
	if err != nil {
		return 0, fmt.Errorf("%s -L %s: %w", tool, chain, err)
	}
	total, rules := 0, 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "REJECT" {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			return 0, err
		}
		total += n
		rules++
	}
	if rules == 0 {
		return 0, fmt.Errorf("%s %s: no REJECT rule, the guard is not installed", tool, chain)
	}
	return total, nil
}
