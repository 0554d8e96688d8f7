package refusal

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
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// EnvPodName is a function replica's pod name (downward API), the
// reporting instance of its Kubernetes Events; the host name without it.
const EnvPodName = "POD_NAME"

// Wiring is what a function that makes data pods (the importer, the
// uploader, the cloner) takes from its environment: the data pods'
// settings (datapod.ConfigFromEnv), the recorder of its Kubernetes Events
// and the sender of its refusals to the updater.
type Wiring struct {
	Pods     datapod.Config
	Recorder *record.Recorder
	Status   Sender
}

// Wire reads the Wiring of the function component ("importer") from env.
// Without a sink it warns: the data pods will report nothing.
func Wire(ctx context.Context, env function.Env, component string) (Wiring, error) {
	cfg, err := datapod.ConfigFromEnv(env.Getenv)
	if err != nil {
		return Wiring{}, err
	}
	if cfg.Sink == "" {
		logging.FromContext(ctx).Warnf("neither %s nor %s is set: data pods will report no progress or result", datapod.SettingSink, events.SinkEnv)
	}
	instance := env.Getenv(EnvPodName)
	if instance == "" {
		instance, _ = os.Hostname()
	}
	rec := record.New(env.Kube, "cdi-"+component, "cdi-functions.io/"+component, instance, time.Now)
	if env.SinkToken != nil && cfg.Sink != "" && cfg.SinkAudience == "" {
		// Data pods report through the same Broker: they ask for
		// tokens of the audience the function's own sink token is for.
		t, err := env.SinkToken()
		if err != nil {
			return Wiring{}, fmt.Errorf("sink token: %w", err)
		}
		if cfg.SinkAudience, err = auth.TokenAudience(t); err != nil {
			return Wiring{}, fmt.Errorf("sink token %s: %w", auth.SinkTokenFile, err)
		}
	}
	status, err := NewSender(cfg.Sink, env.Token, env.SinkToken)
	if err != nil {
		return Wiring{}, err
	}
	return Wiring{Pods: cfg, Recorder: rec, Status: status}, nil
}
