package main

import (
	"context"
	"fmt"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// newHandler builds the uploader from its environment (refusal.Wire: the
// data pods' settings, datapod.SettingImage…, and POD_NAME). It makes
// sure the upload pod authority exists (pkg/podcred: created once, in the
// system namespace), so that every upload pod's credential comes from it.
func newHandler(ctx context.Context, env function.Env) (function.Handler, error) {
	w, err := refusal.Wire(ctx, env, "uploader")
	if err != nil {
		return nil, err
	}
	authority, err := podcred.Ensure(ctx, env.Kube, env.Namespace, time.Now())
	if err != nil {
		return nil, fmt.Errorf("upload pod authority: %w", err)
	}
	up, err := newUploader(env.Kube, w.Pods, authority, env.ComponentUser(auth.EventSourceAccount), w.Recorder, w.Status, env.Meter, time.Now)
	if err != nil {
		return nil, err
	}
	return up.Handle, nil
}
