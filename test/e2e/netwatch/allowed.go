package netwatch

import "net/netip"

// Allowed is the set of networks traffic may go to.
type Allowed []netip.Prefix

// Permits reports whether a socket connected to addr stays inside the
// allowed networks. Unspecified addresses (listening or unconnected
// sockets) are permitted; IPv4-mapped IPv6 addresses are checked as IPv4.
func (a Allowed) Permits(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsUnspecified() {
		return true
	}
	for _, p := range a {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
