package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	uploadv1beta1 "github.com/cdi-functions/cdi-functions/pkg/apis/upload/v1beta1"
)

// cluster is cdictl's view of the API server.
type cluster struct {
	kube      kubernetes.Interface
	dyn       dynamic.Interface
	namespace string
}

// connect loads the kubeconfig (flag, $KUBECONFIG, ~/.kube/config, or
// in-cluster) and the namespace to use.
func connect(kubeconfig, namespace string) (*cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if namespace == "" {
		if namespace, _, err = cc.Namespace(); err != nil {
			return nil, fmt.Errorf("kubeconfig namespace: %w", err)
		}
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &cluster{kube: kube, dyn: dyn, namespace: namespace}, nil
}

// requestToken creates an UploadTokenRequest (v1beta1) for the claim and
// returns the token in its status.
func (c *cluster) requestToken(ctx context.Context, pvc string) (string, error) {
	gvr := uploadv1beta1.SchemeGroupVersion.WithResource("uploadtokenrequests")
	req := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": uploadv1beta1.SchemeGroupVersion.String(),
		"kind":       "UploadTokenRequest",
		"metadata":   map[string]any{"name": pvc, "namespace": c.namespace},
		"spec":       map[string]any{"pvcName": pvc},
	}}
	got, err := c.dyn.Resource(gvr).Namespace(c.namespace).Create(ctx, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("UploadTokenRequest for %s/%s: %w", c.namespace, pvc, err)
	}
	tok, _, _ := unstructured.NestedString(got.Object, "status", "token")
	if tok == "" {
		return "", fmt.Errorf("UploadTokenRequest for %s/%s: no token in the answer", c.namespace, pvc)
	}
	return tok, nil
}

// proxyURL finds the upload proxy's NodePort URL.
func (c *cluster) proxyURL(ctx context.Context) (string, error) {
	svc, err := c.kube.CoreV1().Services(proxyNamespace).Get(ctx, proxyService, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("find the upload proxy (Service %s/%s): %w; give --uploadproxy-url", proxyNamespace, proxyService, err)
	}
	nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("find the upload proxy (nodes): %w; give --uploadproxy-url", err)
	}
	return proxyURL(svc, nodes.Items)
}

// claimEvents lists the claim's Events.
func (c *cluster) claimEvents(ctx context.Context, name string) []corev1.Event {
	evs, err := c.kube.CoreV1().Events(c.namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
	if err != nil {
		return nil
	}
	return evs.Items
}
