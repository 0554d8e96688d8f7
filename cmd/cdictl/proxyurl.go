package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// The upload proxy's Service on clusters like the local one.
const (
	proxyNamespace = "cdi"
	proxyService   = "cdi-uploadproxy"
)

// proxyURL is the upload proxy's URL: the Service's NodePort on the first
// Ready node's InternalIP.
func proxyURL(svc *corev1.Service, nodes []corev1.Node) (string, error) {
	var port int32
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			port = p.NodePort
			break
		}
	}
	if port == 0 {
		return "", fmt.Errorf("the Service %s/%s has no NodePort: give --uploadproxy-url", svc.Namespace, svc.Name)
	}
	for _, ready := range []bool{true, false} {
		for _, n := range nodes {
			if ready && !nodeReady(n) {
				continue
			}
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP && a.Address != "" {
					return "https://" + net.JoinHostPort(a.Address, strconv.Itoa(int(port))), nil
				}
			}
		}
	}
	return "", errors.New("no node has an InternalIP: give --uploadproxy-url")
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
