package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source"
)

// reportFlags say who the data mover works for and where to report: set
// by the functions in a data pod, empty when run by hand.
type reportFlags struct {
	sink           string
	claimNamespace string
	claimName      string
	claimUID       string
	podName        string
	podUID         string
	tokenFile      string
	sinkTokenFile  string
	terminationLog string
	// eventTimeout bounds each event's delivery, retries included: a
	// sink that answers late (a Broker whose in-memory channel holds the
	// request while it retries a consumer that is down) must not keep
	// the pod running. A result that did not get through is not lost:
	// the pod's exit code and termination message carry it to the event
	// source, which reports it again until it is taken.
	eventTimeout time.Duration
}

// defaultEventTimeout is reportFlags.eventTimeout unless set.
const defaultEventTimeout = 30 * time.Second

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.sink, "sink", "", "URL to send progress and result CloudEvents to (K_SINK also works)")
	fs.StringVar(&f.claimNamespace, "claim-namespace", "", "namespace of the claim being filled, for events")
	fs.StringVar(&f.claimName, "claim-name", "", "name of the claim being filled, for events")
	fs.StringVar(&f.claimUID, "claim-uid", "", "UID of the claim being filled, for events")
	fs.StringVar(&f.podName, "pod-name", "", "name of this data pod, for events")
	fs.StringVar(&f.podUID, "pod-uid", "", "UID of this data pod, for events")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token presented to the sink (a projected ServiceAccount token; re-read as the kubelet renews it)")
	fs.StringVar(&f.sinkTokenFile, "sink-token-file", "", "file holding the sink's own bearer token (a Broker with OIDC); --token-file's then travels in the event's authtoken extension only")
	fs.StringVar(&f.terminationLog, "termination-log", "", "file to write the final error to (a pod's /dev/termination-log)")
	fs.DurationVar(&f.eventTimeout, "event-timeout", defaultEventTimeout, "longest one progress or result event may take to be delivered, retries included; 0 waits as long as the sink does (the pod's status carries the result too)")
}

// reporter sends the data pod's progress and result as CloudEvents.
type reporter struct {
	// outcomes are the reasons of the work: the import's or the upload's.
	outcomes reason.Outcomes
	flags    reportFlags
	sender   *events.Sender
	claim    events.Claim
	pod      events.Pod
	stderr   io.Writer
}

// newReporter returns nil when no sink is configured; its results carry
// the reasons out (reason.ImportOutcomes or reason.UploadOutcomes).
func newReporter(f reportFlags, out reason.Outcomes, getenv func(string) string, stderr io.Writer) (*reporter, error) {
	sink := f.sink
	if sink == "" {
		sink = getenv(events.SinkEnv)
	}
	if sink == "" {
		return nil, nil
	}
	if f.claimNamespace == "" || f.claimName == "" {
		return nil, errors.New("--sink needs --claim-namespace and --claim-name")
	}
	var token func() (string, error)
	if f.tokenFile != "" {
		token = auth.NewFileToken(f.tokenFile).Token
	}
	var sinkToken func() (string, error)
	if f.sinkTokenFile != "" {
		sinkToken = auth.NewFileToken(f.sinkTokenFile).Token
	}
	s, err := events.NewSender(func() events.Routes { return events.Routes{Sink: sink} }, events.SenderOptions{Token: token, SinkToken: sinkToken})
	if err != nil {
		return nil, err
	}
	return &reporter{
		outcomes: out, flags: f, sender: s, stderr: stderr,
		claim: events.Claim{Namespace: f.claimNamespace, Name: f.claimName, UID: f.claimUID},
		pod:   events.Pod{Name: f.podName, UID: f.podUID},
	}, nil
}

// progress returns a progress reporter sending events, and its stop.
func (r *reporter) progress(ctx context.Context) (progress.Reporter, func()) {
	pr := events.NewPodReporter(ctx, r.claim, r.pod, 2*time.Second,
		func(ctx context.Context, p events.DataPodProgressPayload) error {
			e, err := events.NewDataPodProgress(p, time.Now())
			if err != nil {
				return err
			}
			return r.send(ctx, e)
		},
		func(err error) { fmt.Fprintf(r.stderr, "warning: progress event: %v\n", err) })
	return pr, pr.Stop
}

// result sends the final phase of the work.
func (r *reporter) result(ctx context.Context, err error) {
	p := events.DataPodPhasePayload{Claim: r.claim, Pod: r.pod, Phase: events.PodSucceeded, Reason: r.outcomes.Succeeded,
		Message: r.outcomes.Done}
	if err != nil {
		p.Phase, p.Reason, p.Message = events.PodFailed, r.outcomes.Failed, oneLine(err)
		p.Permanent = !source.Retryable(err) && !errors.Is(err, context.Canceled)
	}
	e, berr := events.NewDataPodPhase(p, time.Now())
	if berr == nil {
		berr = r.send(context.WithoutCancel(ctx), e)
	}
	if berr != nil {
		fmt.Fprintf(r.stderr, "warning: result event: %v\n", berr)
	}
}

// send delivers e within the event timeout.
func (r *reporter) send(ctx context.Context, e cloudevents.Event) error {
	if r.flags.eventTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.flags.eventTimeout)
		defer cancel()
	}
	return r.sender.Send(ctx, e)
}

// writeTerminationLog records the final error where Kubernetes shows it in
// the pod's status.
func writeTerminationLog(path string, err error) {
	if path == "" || err == nil {
		return
	}
	_ = os.WriteFile(path, []byte(oneLine(err)), 0o644)
}

// exitCodeFor maps an import error to the exit code.
func exitCodeFor(err error) int {
	switch {
	case err == nil:
		return datapod.ExitOK
	case source.Retryable(err), errors.Is(err, context.Canceled):
		return datapod.ExitRetryable
	default:
		return datapod.ExitPermanent
	}
}
