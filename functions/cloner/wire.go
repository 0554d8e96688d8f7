package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/cloneauth"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// newHandler builds the cloner from its environment (refusal.Wire: the
// data pods' settings, datapod.SettingImage…, and POD_NAME). It makes
// sure the clone authority exists (pkg/podcred, in the system namespace):
// every clone's credentials come from it.
func newHandler(ctx context.Context, env function.Env) (function.Handler, error) {
	w, err := refusal.Wire(ctx, env, "cloner")
	if err != nil {
		return nil, err
	}
	authority, err := podcred.EnsureClone(ctx, env.Kube, env.Namespace, time.Now())
	if err != nil {
		return nil, fmt.Errorf("clone authority: %w", err)
	}
	c, err := newCloner(env.Kube, w.Pods, authority, verifier(env.Kube, env.Namespace), env.ComponentUser(auth.EventSourceAccount),
		w.Recorder, w.Status, env.Meter, time.Now)
	if err != nil {
		return nil, err
	}
	return c.Handle, nil
}

// errNoVerificationKey: the webhook has not published its key yet.
var errNoVerificationKey = errors.New("the clone webhook's verification key is not published yet")

// verifier checks a claim's grant against the webhook's public key, read
// from the system namespace at each check (the webhook may publish it
// after the cloner starts, and a read of one ConfigMap costs little next
// to a clone).
func verifier(kube kubernetes.Interface, namespace string) Verifier {
	return func(ctx context.Context, target *corev1.PersistentVolumeClaim) error {
		token := target.Annotations[annotations.CloneAuthorization]
		if token == "" {
			return fmt.Errorf("the claim carries no %s annotation: it was not admitted by the clone webhook", annotations.CloneAuthorization)
		}
		v, err := cloneauth.LoadVerifier(ctx, kube, namespace)
		if err != nil {
			return fmt.Errorf("%w: %v", errNoVerificationKey, err)
		}
		_, err = v.Verify(token, target)
		return err
	}
}
