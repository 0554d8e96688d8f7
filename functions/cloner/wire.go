package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/cloneauth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/record"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// EnvPodName is this replica's pod name (downward API), the reporting
// instance of its Kubernetes Events. The data pods' settings are
// datapod.ConfigFromEnv's (datapod.SettingImage…).
const EnvPodName = "POD_NAME"

// newHandler builds the cloner from its environment. It makes sure the
// clone authority exists (pkg/podcred, in the system namespace): every
// clone's credentials come from it.
func newHandler(ctx context.Context, env function.Env) (function.Handler, error) {
	cfg, err := datapod.ConfigFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Sink == "" {
		logging.FromContext(ctx).Warnf("neither %s nor %s is set: clone pods will report no result", datapod.SettingSink, events.SinkEnv)
	}
	authority, err := podcred.EnsureClone(ctx, env.Kube, env.Namespace, time.Now())
	if err != nil {
		return nil, fmt.Errorf("clone authority: %w", err)
	}
	instance := env.Getenv(EnvPodName)
	if instance == "" {
		instance, _ = os.Hostname()
	}
	rec := record.New(env.Kube, "cdi-cloner", "cdi-functions.io/cloner", instance, time.Now)
	status, err := refusal.NewSender(cfg.Sink, env.Token)
	if err != nil {
		return nil, err
	}
	c, err := newCloner(env.Kube, cfg, authority, verifier(env.Kube, env.Namespace), env.ComponentUser(auth.EventSourceAccount),
		rec, status, env.Meter, time.Now)
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
