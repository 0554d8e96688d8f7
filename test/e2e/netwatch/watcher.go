package netwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tables are the socket tables read in every network namespace.
var tables = []string{"tcp", "tcp6", "udp", "udp6"}

// Config tells a Watcher what to watch.
type Config struct {
	// ProcRoot is the proc filesystem, normally "/proc".
	ProcRoot string
	// GuardGID is the supplementary group the cluster's host processes carry.
	GuardGID int
	// Allowed are the networks sockets may be connected to.
	Allowed Allowed
}

// Violation is a socket of the cluster connected outside the allowed networks.
type Violation struct {
	// PID and Command identify a process owning the socket (for a pod
	// network namespace: any process in it).
	PID     int
	Command string
	// Netns is the network namespace, e.g. "net:[4026531840]".
	Netns string
	// Socket is the offending socket.
	Socket Socket
}

// String formats the violation for failure messages.
func (v Violation) String() string {
	return fmt.Sprintf("pid %d (%s) in %s: %s", v.PID, v.Command, v.Netns, v.Socket)
}

// Report sums up what a Watcher saw.
type Report struct {
	// Samples is how many times the proc filesystem was scanned.
	Samples int
	// HostProcesses is how many distinct guarded host processes were seen.
	HostProcesses int
	// PodNetworks is how many distinct pod network namespaces were seen.
	PodNetworks int
	// Violations are the distinct offending sockets, oldest first.
	Violations []Violation
}

// Watcher samples the cluster's sockets. It is safe for concurrent use.
type Watcher struct {
	cfg Config

	mu         sync.Mutex
	samples    int
	hostPIDs   map[int]bool
	podNetns   map[string]bool
	seen       map[string]bool
	violations []Violation
}

// New returns a Watcher for cfg.
func New(cfg Config) *Watcher {
	return &Watcher{
		cfg:      cfg,
		hostPIDs: map[int]bool{},
		podNetns: map[string]bool{},
		seen:     map[string]bool{},
	}
}

// Run samples every interval until ctx ends, then returns the first error
// a sample met (or nil).
func (w *Watcher) Run(ctx context.Context, interval time.Duration) error {
	var first error
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := w.Sample(); err != nil && first == nil {
			first = err
		}
		select {
		case <-ctx.Done():
			return first
		case <-t.C:
		}
	}
}

// Report returns what the Watcher has seen so far.
func (w *Watcher) Report() Report {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Report{
		Samples:       w.samples,
		HostProcesses: len(w.hostPIDs),
		PodNetworks:   len(w.podNetns),
		Violations:    append([]Violation(nil), w.violations...),
	}
}

// proc is one process of interest.
type proc struct {
	pid     int
	command string
	netns   string
	host    bool
}

// namespace groups the processes of interest found in one network namespace.
type namespace struct {
	reader int // a pid to read the namespace's tables through
	// owners maps socket inodes to their process; nil means every socket
	// of the namespace belongs to the cluster (a pod's own namespace).
	owners map[uint64]proc
	any    proc
}

// Sample scans the proc filesystem once and records violations.
func (w *Watcher) Sample() error {
	selfNetns, err := os.Readlink(filepath.Join(w.cfg.ProcRoot, "self", "ns", "net"))
	if err != nil {
		return fmt.Errorf("read own network namespace: %w", err)
	}
	entries, err := os.ReadDir(w.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("list %s: %w", w.cfg.ProcRoot, err)
	}
	spaces := map[string]*namespace{}
	var procs []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := w.inspect(pid)
		if !ok {
			continue
		}
		procs = append(procs, p)
		ns := spaces[p.netns]
		if ns == nil {
			ns = &namespace{reader: pid, any: p}
			if p.netns == selfNetns || p.host {
				ns.owners = map[uint64]proc{}
			}
			spaces[p.netns] = ns
		}
		if ns.owners != nil {
			for _, inode := range w.socketInodes(pid) {
				ns.owners[inode] = p
			}
		}
	}

	var found []Violation
	for name, ns := range spaces {
		for _, table := range tables {
			socks, err := w.readTable(ns.reader, table)
			if err != nil {
				continue // the process exited meanwhile
			}
			for _, s := range socks {
				if w.cfg.Allowed.Permits(s.Remote.Addr()) {
					continue
				}
				owner := ns.any
				if ns.owners != nil {
					p, ok := ns.owners[s.Inode]
					if !ok {
						continue // not the cluster's socket
					}
					owner = p
				}
				found = append(found, Violation{PID: owner.pid, Command: owner.command, Netns: name, Socket: s})
			}
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	for _, p := range procs {
		if p.host {
			w.hostPIDs[p.pid] = true
		} else if p.netns != selfNetns {
			w.podNetns[p.netns] = true
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Socket.Inode < found[j].Socket.Inode })
	for _, v := range found {
		key := fmt.Sprintf("%s/%d/%s", v.Netns, v.Socket.Inode, v.Socket.Remote)
		if !w.seen[key] {
			w.seen[key] = true
			w.violations = append(w.violations, v)
		}
	}
	return nil
}

// inspect classifies pid: a guarded host process, a pod process, or neither.
func (w *Watcher) inspect(pid int) (proc, bool) {
	dir := filepath.Join(w.cfg.ProcRoot, strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return proc{}, false
	}
	p := proc{pid: pid, host: hasGroup(status, w.cfg.GuardGID)}
	if !p.host {
		cg, err := os.ReadFile(filepath.Join(dir, "cgroup"))
		if err != nil || !bytes.Contains(cg, []byte("/kubepods")) {
			return proc{}, false
		}
	}
	if p.netns, err = os.Readlink(filepath.Join(dir, "ns", "net")); err != nil {
		return proc{}, false
	}
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		p.command = strings.TrimSpace(string(comm))
	}
	return p, true
}

// hasGroup reports whether a /proc/PID/status lists gid among its Groups.
func hasGroup(status []byte, gid int) bool {
	for _, line := range strings.Split(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		for _, g := range strings.Fields(rest) {
			if g == strconv.Itoa(gid) {
				return true
			}
		}
	}
	return false
}

// socketInodes lists the inodes of pid's open sockets.
func (w *Watcher) socketInodes(pid int) []uint64 {
	dir := filepath.Join(w.cfg.ProcRoot, strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// readTable parses /proc/PID/net/TABLE.
func (w *Watcher) readTable(pid int, table string) ([]Socket, error) {
	f, err := os.Open(filepath.Join(w.cfg.ProcRoot, strconv.Itoa(pid), "net", table))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open %s table of pid %d: %w", table, pid, err)
	}
	defer f.Close()
	return ParseProcNet(f, table)
}
