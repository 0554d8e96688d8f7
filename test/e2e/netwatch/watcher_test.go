package netwatch

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProc builds a proc tree in a temporary directory.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T, selfNetns string) *fakeProc {
	t.Helper()
	f := &fakeProc{t: t, root: t.TempDir()}
	f.link("self/ns/net", selfNetns)
	return f
}

func (f *fakeProc) file(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	require.NoError(f.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(f.t, os.WriteFile(p, []byte(content), 0o644))
}

func (f *fakeProc) link(rel, target string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	require.NoError(f.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(f.t, os.Symlink(target, p))
}

// process adds a process with the given groups, cgroup, netns, socket
// inodes and tcp table lines.
func (f *fakeProc) process(pid int, comm, groups, cgroup, netns string, inodes []int, tcp string) {
	d := strconv.Itoa(pid)
	f.file(d+"/status", "Name:\t"+comm+"\nGroups:\t"+groups+"\n")
	f.file(d+"/cgroup", cgroup)
	f.file(d+"/comm", comm+"\n")
	f.link(d+"/ns/net", netns)
	for i, inode := range inodes {
		f.link(d+"/fd/"+strconv.Itoa(i+3), "socket:["+strconv.Itoa(inode)+"]")
	}
	f.link(d+"/fd/0", "/dev/null")
	f.file(d+"/net/tcp", tcpHeader+tcp)
	f.file(d+"/net/udp", tcpHeader)
}

// line formats one /proc/net/tcp entry.
func line(local, remote string, inode int) string {
	return "   0: " + local + " " + remote + " 01 00000000:00000000 00:00000000 00000000     0        0 " +
		strconv.Itoa(inode) + " 1 0000000000000000 20 4 30 10 -1\n"
}

const (
	loopback   = "0100007F:1F90" // 127.0.0.1:8080
	gateway    = "0100F40A:192B" // 10.244.0.1:6443
	podAddr    = "0500F40A:AE4C" // 10.244.0.5:44620
	resolver   = "35FFFF0A:0035" // 10.255.255.53:53
	outsideWeb = "22D8B85D:01BB" // 93.184.216.34:443
)

func TestWatcherSample(t *testing.T) {
	const hostNS, podNS = "net:[4026531840]", "net:[4026532999]"
	f := newFakeProc(t, hostNS)
	hostTable := line(loopback, gateway, 100) + line(loopback, resolver, 101) + line(loopback, outsideWeb, 900)
	// kubelet: guarded, owns 100 (fine) and 101 (a DNS lookup outside).
	f.process(10, "kubelet", "0 61442", "4:memory:/\n", hostNS, []int{100, 101}, hostTable)
	// an unrelated program on the host owns 900: not the cluster's business.
	f.process(11, "go", "0", "4:memory:/user\n", hostNS, []int{900}, hostTable)
	// a pod: every socket of its namespace counts.
	f.process(20, "volcheck", "0", "4:memory:/kubepods/besteffort/pod1/abc\n", podNS, nil,
		line(podAddr, gateway, 300)+line(podAddr, outsideWeb, 301))

	w := New(Config{ProcRoot: f.root, GuardGID: 61442, Allowed: Allowed{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.244.0.0/24"),
	}})
	require.NoError(t, w.Sample())
	require.NoError(t, w.Sample()) // violations are reported once

	r := w.Report()
	assert.Equal(t, 2, r.Samples)
	assert.Equal(t, 1, r.HostProcesses)
	assert.Equal(t, 1, r.PodNetworks)
	require.Len(t, r.Violations, 2)
	assert.Equal(t, 10, r.Violations[0].PID)
	assert.Equal(t, "kubelet", r.Violations[0].Command)
	assert.Equal(t, netip.MustParseAddrPort("10.255.255.53:53"), r.Violations[0].Socket.Remote)
	assert.Equal(t, 20, r.Violations[1].PID)
	assert.Equal(t, podNS, r.Violations[1].Netns)
	assert.Equal(t, netip.MustParseAddrPort("93.184.216.34:443"), r.Violations[1].Socket.Remote)
	assert.Contains(t, r.Violations[0].String(), "kubelet")
}

func TestWatcherClean(t *testing.T) {
	const hostNS = "net:[1]"
	f := newFakeProc(t, hostNS)
	f.process(10, "etcd", "61442", "", hostNS, []int{100}, line(loopback, loopback, 100))
	w := New(Config{ProcRoot: f.root, GuardGID: 61442, Allowed: Allowed{netip.MustParsePrefix("127.0.0.0/8")}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, w.Run(ctx, 5*time.Millisecond))
	r := w.Report()
	assert.Greater(t, r.Samples, 1)
	assert.Empty(t, r.Violations)
	assert.Equal(t, 1, r.HostProcesses)
}

func TestWatcherMissingProc(t *testing.T) {
	w := New(Config{ProcRoot: filepath.Join(t.TempDir(), "nope"), GuardGID: 1})
	assert.Error(t, w.Sample())
}
