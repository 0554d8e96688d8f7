// Package egress decides which network addresses the data mover may
// connect to.
//
// A Policy refuses, by default, the addresses a pod must never be made to
// fetch an image from on a user's behalf:
//
//   - loopback: 127.0.0.0/8 and ::1 (the pod itself, sidecars);
//   - link-local: 169.254.0.0/16 and fe80::/10, which hold the cloud
//     metadata services (169.254.169.254 on AWS, GCP, Azure and others);
//   - the cloud metadata addresses outside link-local: fd00:ec2::254 (AWS,
//     IPv6) and 100.100.100.200 (Alibaba Cloud);
//   - unspecified: 0.0.0.0/8 and :: (which reach the local host).
//
// IPv4-mapped IPv6 addresses (::ffff:169.254.169.254) are judged as the
// IPv4 address they carry, and so are NAT64 addresses of the well-known
// prefix 64:ff9b::/96 and of the local-use range 64:ff9b:1::/48 (taken as
// carrying the IPv4 address in their last 32 bits, as its /96 translators do).
//
// Deny adds ranges, such as the API server's address and the cluster's
// Service and pod networks. Allow adds exceptions, such as an in-cluster
// image server, and they win over Deny. An Allow prefix lifts a built-in
// refusal only when it lies entirely inside the built-in range, that is
// when it names loopback, link-local or metadata addresses explicitly:
// Allow(127.0.0.1/32) lets tests reach a loopback server, Allow(0.0.0.0/0)
// opens no built-in range, and Allow(169.254.0.0/16) opens link-local but
// not 169.254.169.254, which only Allow(169.254.169.254/32) opens.
//
// The policy is applied where the address is final: Control, used as a
// net.Dialer's Control function, checks the address each connection is
// about to be made to, after DNS resolution and on every redirect, before
// the connect system call, so a refused address never sees a packet.
// Check judges one address, for callers that see a literal address early
// (the importer refuses a claim whose endpoint is one). Parse reads the
// comma- or space-separated lists of the environment.
package egress
