package egress

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: []string{}},
		{in: " , ,", want: []string{}},
		{in: "10.96.0.0/12", want: []string{"10.96.0.0/12"}},
		{in: "10.96.0.0/12,10.244.0.0/16", want: []string{"10.96.0.0/12", "10.244.0.0/16"}},
		{in: "10.96.0.0/12, 10.244.0.0/16\tfd00::/8\n", want: []string{"10.96.0.0/12", "10.244.0.0/16", "fd00::/8"}},
		{in: "10.96.0.1", want: []string{"10.96.0.1/32"}},
		{in: "fd00::1", want: []string{"fd00::1/128"}},
		{in: "10.0.0.1/8", want: []string{"10.0.0.0/8"}},
		{in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},
		{in: "::ffff:127.0.0.1", want: []string{"127.0.0.1/32"}},
		{in: "0.0.0.0/0,::/0", want: []string{"0.0.0.0/0", "::/0"}},
		{in: "10.96.0.0/12,10.96.0.300", wantErr: `item 2 "10.96.0.300": not an IP address or CIDR`},
		{in: "10.96.0.0/33", wantErr: `item 1 "10.96.0.0/33": not a CIDR`},
		{in: "images.example", wantErr: `item 1 "images.example": not an IP address or CIDR`},
		{in: "10.96.0.0/12;10.244.0.0/16", wantErr: `item 1 "10.96.0.0/12;10.244.0.0/16": not a CIDR`},
		{in: "fe80::1%eth0", wantErr: `item 1 "fe80::1%eth0": an IPv6 zone is not accepted`},
		{in: "1.2.3.4, 10.0.0.0/x", wantErr: `item 2 "10.0.0.0/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			s := make([]string, len(got))
			for i, p := range got {
				s[i] = p.String()
			}
			assert.Equal(t, tt.want, s)
		})
	}
}

// FuzzParse checks that Parse never panics and that what it accepts is
// canonical: masked, IPv4 not mapped, no zone, and parsed again to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "10.96.0.0/12,10.244.0.0/16", "fd00::/8 10.0.0.1", "::ffff:10.0.0.0/104",
		"fe80::1%eth0", "1.2.3.4/33", ",,, ", "127.0.0.1/32\n::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			assert.Nil(t, got)
			return
		}
		for _, p := range got {
			require.True(t, p.IsValid(), "%v", p)
			require.Equal(t, p.Masked(), p, "masked")
			require.False(t, p.Addr().Is4In6(), "unmapped: %v", p)
			require.Empty(t, p.Addr().Zone(), "no zone: %v", p)
			again, err := Parse(p.String())
			require.NoError(t, err)
			require.Equal(t, []netip.Prefix{p}, again)
		}
	})
}
