// Package netwatch finds network sockets of the local cluster whose remote
// address lies outside loopback and the cluster's own networks.
//
// It reads the Linux proc filesystem: the host-side components are the
// processes carrying the cluster's guard group (their sockets are matched by
// inode, so other programs on the machine are ignored), and every socket in a
// pod's network namespace (a process in a kubepods cgroup) counts. A Watcher
// samples repeatedly while tests run and keeps every violation it saw.
package netwatch
