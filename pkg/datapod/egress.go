package datapod

import (
	"fmt"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
)

// EgressDenyReason is the reason the egress policy gives for the
// addresses of EnvEgressDeny.
const EgressDenyReason = EnvEgressDeny

// EgressPolicy is the egress policy of a data pod whose EnvEgressDeny is
// deny and EnvEgressAllow is allow (egress.Parse lists): egress.Default(),
// the deny ranges refused too, the allow ranges let through (a built-in
// refusal only for ranges inside it, see pkg/egress). The data mover
// applies it at dial time; the importer applies the same one to endpoints
// whose host is a literal address, so both judge alike. A bad list is an
// error naming its variable and item.
func EgressPolicy(deny, allow string) (*egress.Policy, error) {
	d, err := egress.Parse(deny)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvEgressDeny, err)
	}
	a, err := egress.Parse(allow)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvEgressAllow, err)
	}
	return egress.Default().Deny(EgressDenyReason, d...).Allow(a...), nil
}
