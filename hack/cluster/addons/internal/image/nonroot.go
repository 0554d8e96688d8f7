package image

import (
	"os"
)

// NonrootUID is the user (and group) id of the base image's "nonroot" user,
// the same as distroless's.
const NonrootUID = 65532

// hostCABundle is where Debian keeps the system's trusted certificates.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// NonrootBase returns the entries of a minimal base image shaped like
// gcr.io/distroless/static-debian12:nonroot: users root, nobody and nonroot,
// their groups, /tmp, nonroot's home and, when the host has one, a CA bundle.
func NonrootBase() []Entry {
	entries := []Entry{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n")},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Path: "/tmp", Mode: 0o1777, Dir: true},
		{Path: "/home/nonroot", Mode: 0o700, Dir: true, UID: NonrootUID, GID: NonrootUID},
	}
	if ca, err := os.ReadFile(hostCABundle); err == nil {
		entries = append(entries, Entry{Path: hostCABundle, Mode: 0o644, Data: ca})
	}
	return entries
}
