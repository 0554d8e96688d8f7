package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// Environment variables the importer reads (besides function.Main's).
const (
	// EnvImage is the data mover's image (required).
	EnvImage = "DATAMOVER_IMAGE"
	// EnvSink is where data pods send their events (the updater); K_SINK
	// is used when it is empty.
	EnvSink = "DATAMOVER_SINK"
	// EnvPullPolicy is the data pods' image pull policy (default
	// IfNotPresent).
	EnvPullPolicy = "DATAMOVER_PULL_POLICY"
	// EnvScratchSize bounds the data pods' scratch space (a quantity such
	// as 20Gi); by default each pod's limit is its claim's size.
	EnvScratchSize = "DATAMOVER_SCRATCH_SIZE"
	// EnvS3Endpoint is the default S3 endpoint for s3:// sources of claims
	// that name none.
	EnvS3Endpoint = "S3_ENDPOINT"
	// EnvPodName is this replica's pod name (downward API), the reporting
	// instance of its Kubernetes Events.
	EnvPodName = "POD_NAME"
	// EnvPrivileged "true" runs data pods privileged and as root (the
	// 2018 design) instead of at the restricted Pod Security level.
	EnvPrivileged = "DATAMOVER_PRIVILEGED"
	// EnvCPURequest, EnvCPULimit, EnvMemoryRequest and EnvMemoryLimit set
	// the data pods' resources (quantities); each unset one keeps
	// datapod.DefaultResources' value (no CPU limit by default).
	EnvCPURequest    = "DATAMOVER_CPU_REQUEST"
	EnvCPULimit      = "DATAMOVER_CPU_LIMIT"
	EnvMemoryRequest = "DATAMOVER_MEMORY_REQUEST"
	EnvMemoryLimit   = "DATAMOVER_MEMORY_LIMIT"
	// EnvEgressDeny and EnvEgressAllow are handed to the data pods
	// (datapod.EnvEgressDeny, datapod.EnvEgressAllow): CIDRs the data mover
	// refuses to connect to on top of its defaults (loopback, link-local,
	// cloud metadata, unspecified), and CIDRs it may reach even so. The
	// importer builds the same policy (datapod.EgressPolicy) and refuses
	// endpoints whose host is a literal address it denies.
	EnvEgressDeny  = datapod.EnvEgressDeny
	EnvEgressAllow = datapod.EnvEgressAllow
)

// newHandler builds the importer from its environment.
func newHandler(ctx context.Context, env function.Env) (function.Handler, error) {
	cfg, err := configFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Sink == "" {
		logging.FromContext(ctx).Warnf("neither %s nor %s is set: data pods will report no progress", EnvSink, events.SinkEnv)
	}
	instance := env.Getenv(EnvPodName)
	if instance == "" {
		instance, _ = os.Hostname()
	}
	rec := record.New(env.Kube, "cdi-importer", "cdi-functions.io/importer", instance, time.Now)
	status, err := newStatusSender(cfg.Sink, env.Token)
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
			if err := checkLiteralHost(pol, e.url); err != nil {
				errs = append(errs, &annotations.InvalidError{Annotation: e.annotation, Problem: err.Error()})
			}
		}
		return errors.Join(errs...)
	}
}

// checkLiteralHost applies pol to the host of the http(s) URL raw when it
// is a literal address (an s3:// URL's host is a bucket).
func checkLiteralHost(pol *egress.Policy, raw string) error {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	return pol.CheckURL(u)
}

// configFromEnv reads the data pods' configuration.
func configFromEnv(getenv func(string) string) (datapod.Config, error) {
	cfg := datapod.Config{
		Image:       getenv(EnvImage),
		Sink:        getenv(EnvSink),
		S3Endpoint:  getenv(EnvS3Endpoint),
		PullPolicy:  corev1.PullPolicy(getenv(EnvPullPolicy)),
		EgressDeny:  getenv(EnvEgressDeny),
		EgressAllow: getenv(EnvEgressAllow),
	}
	var errs []error
	switch v := getenv(EnvPrivileged); v {
	case "", "false":
	case "true":
		cfg.Privileged = true
	default:
		errs = append(errs, fmt.Errorf("%s %q: want true or false", EnvPrivileged, v))
	}
	res, err := resourcesFromEnv(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Resources = res
	if cfg.Image == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the data mover's image is required", EnvImage))
	}
	if cfg.Sink == "" {
		cfg.Sink = getenv(events.SinkEnv)
	}
	if cfg.Sink != "" {
		if err := checkURL(cfg.Sink); err != nil {
			errs = append(errs, fmt.Errorf("data pod sink: %w", err))
		}
	}
	pol, err := datapod.EgressPolicy(cfg.EgressDeny, cfg.EgressAllow)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.S3Endpoint != "" {
		if err := checkURL(cfg.S3Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvS3Endpoint, err))
		} else if err := checkLiteralHost(pol, cfg.S3Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvS3Endpoint, err))
		}
	}
	switch cfg.PullPolicy {
	case "":
		cfg.PullPolicy = corev1.PullIfNotPresent
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("%s %q: want Always, IfNotPresent or Never", EnvPullPolicy, cfg.PullPolicy))
	}
	if s := getenv(EnvScratchSize); s != "" {
		q, err := resource.ParseQuantity(s)
		if err != nil || q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive quantity such as 20Gi", EnvScratchSize, s))
		} else {
			cfg.ScratchSize = &q
		}
	}
	return cfg, errors.Join(errs...)
}

// resourcesFromEnv returns datapod.DefaultResources with the quantities
// the environment sets.
func resourcesFromEnv(getenv func(string) string) (corev1.ResourceRequirements, error) {
	res := datapod.DefaultResources()
	var errs []error
	for _, q := range []struct {
		env  string
		list corev1.ResourceList
		name corev1.ResourceName
	}{
		{EnvCPURequest, res.Requests, corev1.ResourceCPU},
		{EnvCPULimit, res.Limits, corev1.ResourceCPU},
		{EnvMemoryRequest, res.Requests, corev1.ResourceMemory},
		{EnvMemoryLimit, res.Limits, corev1.ResourceMemory},
	} {
		v := getenv(q.env)
		if v == "" {
			continue
		}
		parsed, err := resource.ParseQuantity(v)
		if err != nil || parsed.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive quantity such as 500m or 1Gi", q.env, v))
			continue
		}
		q.list[q.name] = parsed
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := res.Requests[name]
		limit, hasLimit := res.Limits[name]
		if hasReq && hasLimit && req.Cmp(limit) > 0 {
			errs = append(errs, fmt.Errorf("data pod %s request %s is above its limit %s", name, req.String(), limit.String()))
		}
	}
	return res, errors.Join(errs...)
}

// checkURL accepts absolute http(s) URLs with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL with a host", s)
	}
	return nil
}
