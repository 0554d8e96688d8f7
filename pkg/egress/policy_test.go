package egress

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func prefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := Parse(s)
	require.NoError(t, err)
	return p
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		deny  string // Parse syntax, denied for "the cluster's networks"
		allow string
		addr  string
		// want is the refusal's message; "" means allowed.
		want string
	}{
		{name: "public IPv4", addr: "192.0.2.10"},
		{name: "public IPv6", addr: "2001:db8::1"},
		{name: "private ranges are not denied by default", addr: "10.96.0.1"},
		{name: "loopback", addr: "127.0.0.1", want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "all of 127/8", addr: "127.255.0.9", want: "127.255.0.9 is loopback: refused by the egress policy"},
		{name: "IPv6 loopback", addr: "::1", want: "::1 is loopback: refused by the egress policy"},
		{name: "cloud metadata", addr: "169.254.169.254", want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "link-local", addr: "169.254.1.2", want: "169.254.1.2 is link-local: refused by the egress policy"},
		{name: "IPv6 link-local", addr: "fe80::1", want: "fe80::1 is link-local: refused by the egress policy"},
		{name: "IPv6 link-local with zone", addr: "fe80::1%eth0", want: "fe80::1%eth0 is link-local: refused by the egress policy"},
		{name: "AWS IPv6 metadata", addr: "fd00:ec2::254", want: "fd00:ec2::254 is a cloud metadata address (AWS, IPv6): refused by the egress policy"},
		{name: "Alibaba metadata", addr: "100.100.100.200", want: "100.100.100.200 is a cloud metadata address (Alibaba Cloud): refused by the egress policy"},
		{name: "unspecified", addr: "0.0.0.0", want: "0.0.0.0 is unspecified (this host): refused by the egress policy"},
		{name: "IPv6 unspecified", addr: "::", want: ":: is unspecified (this host): refused by the egress policy"},
		{name: "IPv4-mapped loopback", addr: "::ffff:127.0.0.1", want: "::ffff:127.0.0.1 is loopback: refused by the egress policy"},
		{name: "IPv4-mapped metadata", addr: "::ffff:169.254.169.254", want: "::ffff:169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "IPv4-mapped unspecified", addr: "::ffff:0.0.0.0", want: "::ffff:0.0.0.0 is unspecified (this host): refused by the egress policy"},
		{name: "NAT64 metadata", addr: "64:ff9b::a9fe:a9fe",
			want: "64:ff9b::a9fe:a9fe is the NAT64 form of 169.254.169.254, which is link-local (cloud metadata): refused by the egress policy"},
		{name: "NAT64 public", addr: "64:ff9b::c000:20a"},
		{name: "local-use NAT64 metadata", addr: "64:ff9b:1::a9fe:a9fe",
			want: "64:ff9b:1::a9fe:a9fe is the NAT64 form of 169.254.169.254, which is link-local (cloud metadata): refused by the egress policy"},
		{name: "Google Cloud metadata, IPv6", addr: "fd20:ce::254",
			want: "fd20:ce::254 is a cloud metadata address (Google Cloud, IPv6): refused by the egress policy"},
		{name: "Azure WireServer", addr: "168.63.129.16",
			want: "168.63.129.16 is a cloud platform address (Azure WireServer): refused by the egress policy"},

		{name: "configured deny", deny: "10.96.0.0/12, 10.244.0.0/16", addr: "10.96.0.1",
			want: "10.96.0.1 is in 10.96.0.0/12 (the cluster's networks): refused by the egress policy"},
		{name: "configured deny, IPv4-mapped", deny: "10.96.0.0/12", addr: "::ffff:10.96.0.1",
			want: "::ffff:10.96.0.1 is in 10.96.0.0/12 (the cluster's networks): refused by the egress policy"},
		{name: "configured deny, IPv6", deny: "fd00:10:96::/112", addr: "fd00:10:96::1",
			want: "fd00:10:96::1 is in fd00:10:96::/112 (the cluster's networks): refused by the egress policy"},
		{name: "outside the configured deny", deny: "10.96.0.0/12", addr: "10.112.0.1"},
		{name: "allow wins over deny", deny: "10.96.0.0/12", allow: "10.96.0.80", addr: "10.96.0.80"},
		{name: "allow is exact", deny: "10.96.0.0/12", allow: "10.96.0.80", addr: "10.96.0.81",
			want: "10.96.0.81 is in 10.96.0.0/12 (the cluster's networks): refused by the egress policy"},
		{name: "a broad allow wins over a configured deny", deny: "10.96.0.0/12", allow: "10.0.0.0/8", addr: "10.96.0.1"},
		{name: "loopback allowed explicitly", allow: "127.0.0.1/32", addr: "127.0.0.1"},
		{name: "loopback allowed explicitly, IPv4-mapped", allow: "127.0.0.0/8", addr: "::ffff:127.0.0.2"},
		{name: "loopback allow covers the address only", allow: "127.0.0.1", addr: "127.0.0.2", want: "127.0.0.2 is loopback: refused by the egress policy"},
		{name: "IPv6 loopback allowed explicitly", allow: "::1", addr: "::1"},
		{name: "allow everything does not open loopback", allow: "0.0.0.0/0, ::/0", addr: "127.0.0.1", want: "127.0.0.1 is loopback: refused by the egress policy"},
		{name: "allow everything does not open metadata", allow: "0.0.0.0/0", addr: "169.254.169.254",
			want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "allow 169.254/8 opens nothing", allow: "169.0.0.0/8", addr: "169.254.1.1", want: "169.254.1.1 is link-local: refused by the egress policy"},
		{name: "allow link-local does not open metadata", allow: "169.254.0.0/16", addr: "169.254.169.254",
			want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "allow link-local opens the rest of it", allow: "169.254.0.0/16", addr: "169.254.1.1"},
		{name: "metadata allowed explicitly", allow: "169.254.169.254", addr: "169.254.169.254"},
		{name: "allowing loopback does not lift a configured deny elsewhere", deny: "10.0.0.0/8", allow: "127.0.0.1", addr: "10.0.0.1",
			want: "10.0.0.1 is in 10.0.0.0/8 (the cluster's networks): refused by the egress policy"},
		{name: "NAT64 of an allowed loopback", allow: "127.0.0.1", addr: "64:ff9b::7f00:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Default().Deny("the cluster's networks", prefixes(t, tt.deny)...).Allow(prefixes(t, tt.allow)...)
			err := p.Check(netip.MustParseAddr(tt.addr))
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.ErrorIs(t, err, ErrDenied)
			var d *DeniedError
			require.ErrorAs(t, err, &d)
			assert.Equal(t, netip.MustParseAddr(tt.addr), d.Addr)
			assert.NotEmpty(t, d.Reason)
		})
	}
}

func TestZeroAndNilPolicyAreDefault(t *testing.T) {
	var nilPolicy *Policy
	for name, p := range map[string]*Policy{"nil": nilPolicy, "zero": {}, "Default": Default()} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, p.Check(netip.MustParseAddr("169.254.169.254")), ErrDenied)
			assert.ErrorIs(t, p.Check(netip.MustParseAddr("127.0.0.1")), ErrDenied)
			assert.NoError(t, p.Check(netip.MustParseAddr("192.0.2.1")))
		})
	}
	assert.ErrorIs(t, Default().Check(netip.Addr{}), ErrDenied, "an invalid address is refused")
}

func TestDenyAllowIgnoreInvalidPrefixes(t *testing.T) {
	p := Default().Deny("x", netip.Prefix{}).Allow(netip.Prefix{})
	assert.NoError(t, p.Check(netip.MustParseAddr("192.0.2.1")))
	assert.ErrorIs(t, p.Check(netip.MustParseAddr("127.0.0.1")), ErrDenied)
}

func TestControl(t *testing.T) {
	tests := []struct {
		network, address string
		want             string // "" means allowed
	}{
		{"tcp4", "192.0.2.1:443", ""},
		{"tcp6", "[2001:db8::1]:80", ""},
		{"tcp4", "169.254.169.254:80", "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{"tcp6", "[::ffff:127.0.0.1]:8080", "::ffff:127.0.0.1 is loopback: refused by the egress policy"},
		{"tcp6", "[fe80::1%eth0]:80", "fe80::1%eth0 is link-local: refused by the egress policy"},
		{"tcp", "example.com:80", `cannot check tcp address "example.com:80": refused by the egress policy`},
		{"unix", "/run/socket", `cannot check unix address "/run/socket": refused by the egress policy`},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := Default().Control(tt.network, tt.address, nil)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrDenied)
			assert.EqualError(t, err, tt.want)
		})
	}
}

// TestControlWithDialer dials a real loopback listener: refused before
// the connect system call (the listener has nothing to accept), and
// connected once loopback is allowed.
func TestControlWithDialer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	tl := l.(*net.TCPListener)
	ctx := context.Background()

	d := &net.Dialer{Control: Default().Control}
	_, err = d.DialContext(ctx, "tcp", l.Addr().String())
	require.ErrorIs(t, err, ErrDenied)
	var op *net.OpError
	require.ErrorAs(t, err, &op, "the dialer wraps the refusal")
	var denied *DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, "127.0.0.1", denied.Addr.String())
	// A connect would have completed its handshake into the backlog
	// before DialContext returned, so a sentinel connected now must be the
	// first one accepted (the backlog is first in, first out).
	sentinel, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer sentinel.Close()
	require.NoError(t, tl.SetDeadline(time.Now().Add(5*time.Second)))
	first, err := tl.Accept()
	require.NoError(t, err)
	assert.Equal(t, sentinel.LocalAddr().String(), first.RemoteAddr().String(), "no connection reached the listener before the sentinel")
	require.NoError(t, first.Close())

	// "localhost" resolves to a loopback address, refused at dial time.
	_, port, _ := net.SplitHostPort(l.Addr().String())
	_, err = d.DialContext(ctx, "tcp", net.JoinHostPort("localhost", port))
	require.ErrorIs(t, err, ErrDenied)

	d = &net.Dialer{Control: Default().Allow(netip.MustParsePrefix("127.0.0.1/32")).Control}
	c, err := d.DialContext(ctx, "tcp", l.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url  string
		deny bool
	}{
		{"http://169.254.169.254/latest/meta-data/", true},
		{"https://[::ffff:127.0.0.1]:8443/disk.img", true},
		{"http://[fe80::1%25eth0]/x", true},
		{"http://metadata.example/x", false}, // names are checked at dial time
		{"https://192.0.2.10/disk.img", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		require.NoError(t, err)
		err = Default().CheckURL(u)
		if tt.deny {
			assert.ErrorIs(t, err, ErrDenied, tt.url)
		} else {
			assert.NoError(t, err, tt.url)
		}
	}
}
