package datapod

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEgressPolicy(t *testing.T) {
	tests := []struct {
		name, deny, allow string
		addr              string
		want              string // the refusal, "" for allowed
		wantErr           string
	}{
		{name: "defaults", addr: "169.254.169.254", want: "169.254.169.254 is link-local (cloud metadata): refused by the egress policy"},
		{name: "defaults allow the rest", addr: "10.96.0.1"},
		{name: "deny", deny: "10.96.0.0/12,10.244.0.0/16", addr: "10.96.0.1",
			want: "10.96.0.1 is in 10.96.0.0/12 (DATAMOVER_EGRESS_DENY): refused by the egress policy"},
		{name: "allow wins", deny: "10.96.0.0/12", allow: "10.96.0.80/32", addr: "10.96.0.80"},
		{name: "loopback allowed for tests", allow: "127.0.0.1/32", addr: "127.0.0.1"},
		{name: "bad deny", deny: "10.96.0.0/12,nope", wantErr: `DATAMOVER_EGRESS_DENY: item 2 "nope"`},
		{name: "bad allow", allow: "10.0.0.0/40", wantErr: `DATAMOVER_EGRESS_ALLOW: item 1 "10.0.0.0/40"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EgressPolicy(tt.deny, tt.allow)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			err = p.Check(netip.MustParseAddr(tt.addr))
			if tt.want == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.want)
			}
		})
	}
}
