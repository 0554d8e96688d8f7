package netwatch

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helperGID marks the helper process; it is not the cluster's guard group.
const helperGID = 61443

// TestWatcherSeesRealConnectedSocket runs this test binary again as a helper
// with the supplementary group helperGID; the helper connects a UDP socket to
// a TEST-NET-3 address (connect sends no packet) and waits. The Watcher must
// find that socket through the real /proc.
func TestWatcherSeesRealConnectedSocket(t *testing.T) {
	if os.Getenv("NETWATCH_HELPER") == "1" {
		holdConnectedSocket()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("setpriv --groups needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	cmd := exec.Command(setpriv, "--groups=61443", "--", os.Args[0], "-test.run=^TestWatcherSeesRealConnectedSocket$")
	cmd.Env = append(os.Environ(), "NETWATCH_HELPER=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "connected\n", line)

	w := New(Config{ProcRoot: "/proc", GuardGID: helperGID, Allowed: Allowed{netip.MustParsePrefix("127.0.0.0/8")}})
	require.NoError(t, w.Sample())
	r := w.Report()
	assert.Equal(t, 1, r.HostProcesses)
	var mine []Violation // pods of a running local cluster may show up too
	for _, v := range r.Violations {
		if v.PID == cmd.Process.Pid {
			mine = append(mine, v)
		}
	}
	require.Len(t, mine, 1, "%v", r.Violations)
	assert.Equal(t, netip.MustParseAddrPort("203.0.113.1:9"), mine[0].Socket.Remote)
	assert.Equal(t, "udp", mine[0].Socket.Proto)
}

// holdConnectedSocket is the helper: connect, say so, wait for stdin to close.
func holdConnectedSocket() {
	c, err := net.Dial("udp4", "203.0.113.1:9")
	if err != nil {
		os.Stdout.WriteString("dial: " + err.Error() + "\n")
		os.Exit(1)
	}
	defer c.Close()
	os.Stdout.WriteString("connected\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}
