package netwatch

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
const tcp6Header = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

func TestParseProcNet(t *testing.T) {
	tests := []struct {
		name  string
		proto string
		text  string
		want  []Socket
	}{{
		name:  "tcp listen and established",
		proto: "tcp",
		text: tcpHeader +
			"   0: 0100007F:5BA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41235 1 0000000000000000 100 0 0 10 0\n" +
			"   1: 0100F40A:192B 0500F40A:AE4C 01 00000000:00000000 02:000A7D6B 00000000     0        0 55123 2 0000000000000000 20 4 30 10 -1\n",
		want: []Socket{
			{Proto: "tcp", Local: netip.MustParseAddrPort("127.0.0.1:23456"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: "0A", Inode: 41235},
			{Proto: "tcp", Local: netip.MustParseAddrPort("10.244.0.1:6443"), Remote: netip.MustParseAddrPort("10.244.0.5:44620"), State: "01", Inode: 55123},
		},
	}, {
		name:  "udp to a resolver",
		proto: "udp",
		text: tcpHeader +
			"  77: 0200000A:D431 35FFFF0A:0035 01 00000000:00000000 00:00000000 00000000     0        0 998 2 0000000000000000 0\n",
		want: []Socket{
			{Proto: "udp", Local: netip.MustParseAddrPort("10.0.0.2:54321"), Remote: netip.MustParseAddrPort("10.255.255.53:53"), State: "01", Inode: 998},
		},
	}, {
		name:  "tcp6 loopback and v4-mapped",
		proto: "tcp6",
		text: tcp6Header +
			"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0\n" +
			"   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 1235 1 0000000000000000 100 0 0 10 0\n",
		want: []Socket{
			{Proto: "tcp6", Local: netip.MustParseAddrPort("[::1]:8080"), Remote: netip.MustParseAddrPort("[::]:0"), State: "0A", Inode: 1234},
			{Proto: "tcp6", Local: netip.MustParseAddrPort("[::ffff:127.0.0.1]:8080"), Remote: netip.MustParseAddrPort("[::ffff:127.0.0.2]:50000"), State: "01", Inode: 1235},
		},
	}, {
		name:  "header only",
		proto: "udp6",
		text:  tcp6Header,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcNet(strings.NewReader(tt.text), tt.proto)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseProcNetErrors(t *testing.T) {
	for _, line := range []string{
		"   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
		"   0: 0100007G:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
		"   0: 01007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
		"   0: 0100007F:0050 00000000:XYZ 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
		"   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x 1\n",
	} {
		_, err := ParseProcNet(strings.NewReader(tcpHeader+line), "tcp")
		assert.Error(t, err, line)
	}
}

func TestAllowedPermits(t *testing.T) {
	allowed := Allowed{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.244.0.0/24"),
		netip.MustParsePrefix("10.96.0.0/12"),
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"0.0.0.0", true},
		{"::", true},
		{"127.0.0.53", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.244.0.7", true},
		{"10.96.0.10", true},
		{"10.111.255.255", true},
		{"10.112.0.1", false},
		{"10.244.1.1", false},
		{"10.255.255.53", false},
		{"192.0.2.1", false},
		{"::ffff:8.8.8.8", false},
		{"fd00::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			assert.Equal(t, tt.want, allowed.Permits(netip.MustParseAddr(tt.addr)))
		})
	}
}
