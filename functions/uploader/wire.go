package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
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

// newHandler builds the uploader from its environment. It makes sure the
// upload pod authority exists (pkg/podcred: created once, in the system
// namespace), so that every upload pod's credential comes from it.
func newHandler(ctx context.Context, env function.Env) (function.Handler, error) {
	cfg, err := datapod.ConfigFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Sink == "" {
		logging.FromContext(ctx).Warnf("neither %s nor %s is set: upload pods will report no result", datapod.SettingSink, events.SinkEnv)
	}
	authority, err := podcred.Ensure(ctx, env.Kube, env.Namespace, time.Now())
	if err != nil {
		return nil, fmt.Errorf("upload pod authority: %w", err)
	}
	instance := env.Getenv(EnvPodName)
	if instance == "" {
		instance, _ = os.Hostname()
	}
	rec := record.New(env.Kube, "cdi-uploader", "cdi-functions.io/uploader", instance, time.Now)
	status, err := refusal.NewSender(cfg.Sink, env.Token)
	if err != nil {
		return nil, err
	}
	up, err := newUploader(env.Kube, cfg, authority, env.ComponentUser(auth.EventSourceAccount), rec, status, env.Meter, time.Now)
	if err != nil {
		return nil, err
	}
	return up.Handle, nil
}
