package main

import (
	"context"
	"errors"
	"os"
	"time"

	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/record"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// EnvPodName is this replica's pod name (downward API), the reporting
// instance of its Kubernetes Events. The data pods' settings are
// datapod.ConfigFromEnv's (datapod.SettingImage…).
const EnvPodName = "POD_NAME"

// newHandler builds the importer from its environment.
func newHandler(ctx context.Context, env function.Env) (function.Handler, error) {
	cfg, err := datapod.ConfigFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Sink == "" {
		logging.FromContext(ctx).Warnf("neither %s nor %s is set: data pods will report no progress", datapod.SettingSink, events.SinkEnv)
	}
	instance := env.Getenv(EnvPodName)
	if instance == "" {
		instance, _ = os.Hostname()
	}
	rec := record.New(env.Kube, "cdi-importer", "cdi-functions.io/importer", instance, time.Now)
	status, err := refusal.NewSender(cfg.Sink, env.Token)
	if err != nil {
		return nil, err
	}
	pol, err := datapod.EgressPolicy(cfg.EgressDeny, cfg.EgressAllow)
	if err != nil {
		return nil, err
	}
	imp, err := newImporter(env.Kube, cfg, env.ComponentUser(auth.EventSourceAccount), validator(pol), rec, status, env.Meter)
	if err != nil {
		return nil, err
	}
	return imp.Handle, nil
}

// validator returns the check of a request before any pod exists: the
// annotations' own rules (annotations.ImportRequest.Validate), then the
// egress policy pol for the endpoint and the S3 endpoint when their host is
// a literal address. Host names are not resolved here (an answer may
// change by the time the pod runs): the data mover checks every address
// it connects to. Each refusal names its annotation and the address.
func validator(pol *egress.Policy) func(annotations.ImportRequest) error {
	return func(r annotations.ImportRequest) error {
		if err := r.Validate(); err != nil {
			return err
		}
		var errs []error
		for _, e := range []struct{ annotation, url string }{
			{annotations.Endpoint, r.Endpoint},
			{annotations.S3Endpoint, r.S3Endpoint},
		} {
			if err := datapod.CheckLiteralHost(pol, e.url); err != nil {
				errs = append(errs, &annotations.InvalidError{Annotation: e.annotation, Problem: err.Error()})
			}
		}
		return errors.Join(errs...)
	}
}
