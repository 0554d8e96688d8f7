package netwatch

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Socket is one line of /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	// Proto is the file it came from: tcp, tcp6, udp or udp6.
	Proto string
	// Local and Remote are the socket's addresses; Remote is unspecified
	// for listening and unconnected sockets.
	Local, Remote netip.AddrPort
	// State is the kernel's state code in hex (0A is TCP LISTEN).
	State string
	// Inode identifies the socket; /proc/PID/fd links name it.
	Inode uint64
}

// String formats the socket for failure messages.
func (s Socket) String() string {
	return fmt.Sprintf("%s %s -> %s (state %s, inode %d)", s.Proto, s.Local, s.Remote, s.State, s.Inode)
}

// ParseProcNet parses the content of a /proc/net/{tcp,tcp6,udp,udp6} file.
func ParseProcNet(r io.Reader, proto string) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // column headers
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		local, err := parseAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s: local address %q: %w", proto, f[1], err)
		}
		remote, err := parseAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s: remote address %q: %w", proto, f[2], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: inode %q: %w", proto, f[9], err)
		}
		out = append(out, Socket{Proto: proto, Local: local, Remote: remote, State: f[3], Inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s table: %w", proto, err)
	}
	return out, nil
}

// parseAddrPort decodes the kernel's "HEXADDR:HEXPORT"; the address is made
// of 32-bit words in host (little-endian) byte order.
func parseAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port separator")
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("decode address: %w", err)
	}
	if len(raw) != 4 && len(raw) != 16 {
		return netip.AddrPort{}, fmt.Errorf("address of %d bytes", len(raw))
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("decode port: %w", err)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
