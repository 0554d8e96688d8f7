package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// Parse reads a list of CIDRs ("10.96.0.0/12") and single addresses
// ("10.96.0.1", "fd00::1", taken as /32 and /128) separated by commas,
// spaces or both, as set in the environment. Empty items are skipped, so
// "" is the empty list. Host bits of a CIDR are cleared (10.0.0.1/8 is
// 10.0.0.0/8) and IPv4-mapped forms become IPv4 (::ffff:10.0.0.0/104 is
// 10.0.0.0/8). An item that is neither, or that carries an IPv6 zone, is an
// error naming it and its position.
func Parse(s string) ([]netip.Prefix, error) {
	items := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	out := make([]netip.Prefix, 0, len(items))
	for i, item := range items {
		pf, err := parseItem(item)
		if err != nil {
			return nil, fmt.Errorf("item %d %q: %w", i+1, item, err)
		}
		out = append(out, pf)
	}
	return out, nil
}

func parseItem(item string) (netip.Prefix, error) {
	if strings.Contains(item, "%") {
		return netip.Prefix{}, fmt.Errorf("an IPv6 zone is not accepted")
	}
	if strings.Contains(item, "/") {
		pf, err := netip.ParsePrefix(item)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR (want e.g. 10.96.0.0/12 or fd00::/8)")
		}
		return normalize(pf), nil
	}
	a, err := netip.ParseAddr(item)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR (want e.g. 10.96.0.1 or 10.96.0.0/12)")
	}
	return normalize(netip.PrefixFrom(a, a.BitLen())), nil
}
