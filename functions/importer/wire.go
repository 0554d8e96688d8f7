package main

import (
	"context"
	"errors"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// newHandler builds the importer from its environment (refusal.Wire: the
// data pods' settings, datapod.SettingImage…, and POD_NAME).
func newHandler(ctx context.Context, env function.Env) (function.Handler, error) {
	w, err := refusal.Wire(ctx, env, "importer")
	if err != nil {
		return nil, err
	}
	pol, err := datapod.EgressPolicy(w.Pods.EgressDeny, w.Pods.EgressAllow)
	if err != nil {
		return nil, err
	}
	imp, err := newImporter(env.Kube, w.Pods, env.ComponentUser(auth.EventSourceAccount), validator(pol), w.Recorder, w.Status, env.Meter)
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
