package egress_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
)

// The data mover's policy: the defaults, the cluster's networks denied,
// one in-cluster image server allowed, applied by the dialer.
func Example() {
	deny, err := egress.Parse("10.96.0.0/12, 10.244.0.0/16")
	if err != nil {
		panic(err)
	}
	allow, err := egress.Parse("10.96.0.80")
	if err != nil {
		panic(err)
	}
	p := egress.Default().Deny("the cluster's networks", deny...).Allow(allow...)
	for _, a := range []string{"169.254.169.254", "::ffff:127.0.0.1", "10.96.0.1", "10.96.0.80", "192.0.2.7"} {
		if err := p.Check(netip.MustParseAddr(a)); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(a, "is allowed")
	}
	// Every connection of this dialer is checked before it is made.
	_ = &net.Dialer{Control: p.Control}
	// Output:
	// 169.254.169.254 is link-local (cloud metadata): refused by the egress policy
	// ::ffff:127.0.0.1 is loopback: refused by the egress policy
	// 10.96.0.1 is in 10.96.0.0/12 (the cluster's networks): refused by the egress policy
	// 10.96.0.80 is allowed
	// 192.0.2.7 is allowed
}
