package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"syscall"
)

// ErrDenied is wrapped by every refusal of a Policy: errors.Is(err,
// ErrDenied) tells an egress refusal from other failures.
var ErrDenied = errors.New("refused by the egress policy")

// DeniedError is a refusal of a Policy: the address and why it is refused.
// It wraps ErrDenied.
type DeniedError struct {
	// Addr is the refused address, as it was given.
	Addr netip.Addr
	// Reason says what the address is ("loopback", "link-local (cloud
	// metadata)", "in 10.96.0.0/12 (the Service network)").
	Reason string
}

// Error implements error: "169.254.169.254 is link-local (cloud
// metadata): refused by the egress policy".
func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s is %s: %s", e.Addr, e.Reason, ErrDenied)
}

// Unwrap returns ErrDenied.
func (e *DeniedError) Unwrap() error { return ErrDenied }

// rule is a denied range and the reason given for its addresses.
type rule struct {
	prefix netip.Prefix
	reason string
	// builtin rules are lifted only by an Allow prefix inside them.
	builtin bool
}

// builtins are the ranges every Policy refuses, most specific first so
// that an address gets the most precise reason.
var builtins = []rule{
	{prefix: netip.MustParsePrefix("169.254.169.254/32"), reason: "link-local (cloud metadata)", builtin: true},
	{prefix: netip.MustParsePrefix("fd00:ec2::254/128"), reason: "a cloud metadata address (AWS, IPv6)", builtin: true},
	{prefix: netip.MustParsePrefix("100.100.100.200/32"), reason: "a cloud metadata address (Alibaba Cloud)", builtin: true},
	{prefix: netip.MustParsePrefix("fd20:ce::254/128"), reason: "a cloud metadata address (Google Cloud, IPv6)", builtin: true},
	{prefix: netip.MustParsePrefix("168.63.129.16/32"), reason: "a cloud platform address (Azure WireServer)", builtin: true},
	{prefix: netip.MustParsePrefix("127.0.0.0/8"), reason: "loopback", builtin: true},
	{prefix: netip.MustParsePrefix("::1/128"), reason: "loopback", builtin: true},
	{prefix: netip.MustParsePrefix("169.254.0.0/16"), reason: "link-local", builtin: true},
	{prefix: netip.MustParsePrefix("fe80::/10"), reason: "link-local", builtin: true},
	{prefix: netip.MustParsePrefix("0.0.0.0/8"), reason: "unspecified (this host)", builtin: true},
	{prefix: netip.MustParsePrefix("::/128"), reason: "unspecified (this host)", builtin: true},
}

// nat64 are the NAT64 prefixes: the well-known one (RFC 6052) and the
// local-use range (RFC 8215), whose translators use a /96 inside it in
// practice. Their addresses reach the IPv4 address in their last 32 bits.
var nat64 = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}

// Policy decides which addresses may be connected to. The zero value, like
// a nil *Policy, is the Default policy. Configure a Policy with Deny and
// Allow before sharing it; Check and Control are then safe for concurrent
// use.
type Policy struct {
	deny  []rule
	allow []netip.Prefix
}

// Default returns a policy that refuses the built-in ranges (loopback,
// link-local, cloud metadata, unspecified; see the package documentation)
// and allows every other address.
func Default() *Policy { return &Policy{} }

// Deny makes p refuse the addresses of prefixes too, for reason (what the
// ranges are, such as "the cluster's networks"), unless Allow lets them
// through. It returns p.
func (p *Policy) Deny(reason string, prefixes ...netip.Prefix) *Policy {
	for _, pf := range prefixes {
		if pf.IsValid() {
			p.deny = append(p.deny, rule{prefix: normalize(pf), reason: reason})
		}
	}
	return p
}

// Allow makes p let the addresses of prefixes through although a Deny
// range holds them. A built-in refusal is lifted only for an Allow prefix
// that lies entirely inside the built-in range: 127.0.0.1/32 opens that
// loopback address, 0.0.0.0/0 opens no built-in range. It returns p.
func (p *Policy) Allow(prefixes ...netip.Prefix) *Policy {
	for _, pf := range prefixes {
		if pf.IsValid() {
			p.allow = append(p.allow, normalize(pf))
		}
	}
	return p
}

// Check returns nil if addr may be connected to, else a *DeniedError
// (wrapping ErrDenied) naming addr and why it is refused. An invalid
// address is refused.
func (p *Policy) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return &DeniedError{Addr: addr, Reason: "not a valid address"}
	}
	a := addr.WithZone("").Unmap()
	if reason, denied := p.judge(a); denied {
		return &DeniedError{Addr: addr, Reason: reason}
	}
	if slices.ContainsFunc(nat64, func(n netip.Prefix) bool { return n.Contains(a) }) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if reason, denied := p.judge(v4); denied {
			return &DeniedError{Addr: addr, Reason: fmt.Sprintf("the NAT64 form of %s, which is %s", v4, reason)}
		}
	}
	return nil
}

// CheckURL applies the policy to u's host when it is a literal address,
// before any request is made: behind a proxy, the dialer sees only the
// proxy's address. A host name gives nil: the addresses it resolves to are
// checked when they are dialled (Control).
func (p *Policy) CheckURL(u *url.URL) error {
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil
	}
	return p.Check(a)
}

// judge returns the reason a refuses a (unmapped, without zone), if it does.
func (p *Policy) judge(a netip.Addr) (string, bool) {
	var deny []rule
	var allow []netip.Prefix
	if p != nil {
		deny, allow = p.deny, p.allow
	}
	for _, rules := range [][]rule{builtins, deny} {
		for _, r := range rules {
			if !r.prefix.Contains(a) || allowed(allow, a, r) {
				continue
			}
			if r.builtin {
				return r.reason, true
			}
			return fmt.Sprintf("in %s (%s)", r.prefix, r.reason), true
		}
	}
	return "", false
}

// allowed reports whether an Allow prefix lets a through rule r.
func allowed(allow []netip.Prefix, a netip.Addr, r rule) bool {
	for _, pf := range allow {
		if !pf.Contains(a) {
			continue
		}
		if !r.builtin || (pf.Bits() >= r.prefix.Bits() && r.prefix.Contains(pf.Addr())) {
			return true
		}
	}
	return false
}

// Control checks the address a connection is about to be made to; it has
// the signature of net.Dialer.Control, which the dialer calls after it
// resolved the name and created the socket, before it connects, for every
// address it tries. address is "host:port" with a literal IP host; any
// other address is refused, so that nothing unchecked gets through.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("cannot check %s address %q: %w", network, address, ErrDenied)
	}
	return p.Check(ap.Addr())
}

// normalize masks pf and turns an IPv4-mapped prefix into the IPv4 one.
func normalize(pf netip.Prefix) netip.Prefix {
	a, bits := pf.Addr().WithZone(""), pf.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}
