package datapod

import (
	"errors"
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
)

// The settings of a function that creates data pods (the importer, the
// uploader): environment variables of the function's own container,
// read by ConfigFromEnv. Not to be confused with the data mover's
// environment (EnvPrefix), which the functions set on data pods.
const (
	// SettingImage is the data mover's image (required).
	SettingImage = "DATAMOVER_IMAGE"
	// SettingSink is where data pods send their events (the updater)
	// without a Broker; K_SINK (a SinkBinding's Broker, config/knative/)
	// wins over it, as it does over the event source's routing table.
	SettingSink = "DATAMOVER_SINK"
	// SettingSinkAudience is the audience of the tokens the sink (a
	// Broker with OIDC) takes; by default that of the function's own
	// sink token (auth.SinkTokenFile), if it has one.
	SettingSinkAudience = "DATAMOVER_SINK_AUDIENCE"
	// SettingPullPolicy is the data pods' image pull policy (default
	// IfNotPresent).
	SettingPullPolicy = "DATAMOVER_PULL_POLICY"
	// SettingScratchSize bounds the data pods' scratch space (a quantity
	// such as 20Gi); by default each pod's limit is its claim's size.
	SettingScratchSize = "DATAMOVER_SCRATCH_SIZE"
	// SettingS3Endpoint is the default S3 endpoint for s3:// sources of
	// claims that name none.
	SettingS3Endpoint = "S3_ENDPOINT"
	// SettingPrivileged "true" runs data pods privileged and as root (the
	// 2018 design) instead of at the restricted Pod Security level.
	SettingPrivileged = "DATAMOVER_PRIVILEGED"
	// SettingCPURequest, SettingCPULimit, SettingMemoryRequest and
	// SettingMemoryLimit set the data pods' resources (quantities); each
	// unset one keeps DefaultResources' value (no CPU limit by default).
	SettingCPURequest    = "DATAMOVER_CPU_REQUEST"
	SettingCPULimit      = "DATAMOVER_CPU_LIMIT"
	SettingMemoryRequest = "DATAMOVER_MEMORY_REQUEST"
	SettingMemoryLimit   = "DATAMOVER_MEMORY_LIMIT"
	// SettingEgressDeny and SettingEgressAllow are handed to the data pods
	// (EnvEgressDeny, EnvEgressAllow): CIDRs the data mover refuses to
	// connect to on top of its defaults (loopback, link-local, cloud
	// metadata, unspecified), and CIDRs it may reach even so.
	SettingEgressDeny  = EnvEgressDeny
	SettingEgressAllow = EnvEgressAllow
	// sinkEnv is the Knative SinkBinding's variable (events.SinkEnv).
	sinkEnv = "K_SINK"
)

// ConfigFromEnv reads the data pods' configuration.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Image:        getenv(SettingImage),
		Sink:         getenv(SettingSink),
		SinkAudience: getenv(SettingSinkAudience),
		S3Endpoint:   getenv(SettingS3Endpoint),
		PullPolicy:   corev1.PullPolicy(getenv(SettingPullPolicy)),
		EgressDeny:   getenv(SettingEgressDeny),
		EgressAllow:  getenv(SettingEgressAllow),
	}
	var errs []error
	switch v := getenv(SettingPrivileged); v {
	case "", "false":
	case "true":
		cfg.Privileged = true
	default:
		errs = append(errs, fmt.Errorf("%s %q: want true or false", SettingPrivileged, v))
	}
	res, err := resourcesFromEnv(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Resources = res
	if cfg.Image == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the data mover's image is required", SettingImage))
	}
	if k := getenv(sinkEnv); k != "" {
		cfg.Sink = k
	}
	if cfg.Sink != "" {
		if err := checkURL(cfg.Sink); err != nil {
			errs = append(errs, fmt.Errorf("data pod sink: %w", err))
		}
	}
	pol, err := EgressPolicy(cfg.EgressDeny, cfg.EgressAllow)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.S3Endpoint != "" {
		if err := checkURL(cfg.S3Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", SettingS3Endpoint, err))
		} else if err := CheckLiteralHost(pol, cfg.S3Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", SettingS3Endpoint, err))
		}
	}
	switch cfg.PullPolicy {
	case "":
		cfg.PullPolicy = corev1.PullIfNotPresent
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("%s %q: want Always, IfNotPresent or Never", SettingPullPolicy, cfg.PullPolicy))
	}
	if s := getenv(SettingScratchSize); s != "" {
		q, err := resource.ParseQuantity(s)
		if err != nil || q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive quantity such as 20Gi", SettingScratchSize, s))
		} else {
			cfg.ScratchSize = &q
		}
	}
	return cfg, errors.Join(errs...)
}

// resourcesFromEnv returns DefaultResources with the quantities
// the environment sets.
func resourcesFromEnv(getenv func(string) string) (corev1.ResourceRequirements, error) {
	res := DefaultResources()
	var errs []error
	for _, q := range []struct {
		env  string
		list corev1.ResourceList
		name corev1.ResourceName
	}{
		{SettingCPURequest, res.Requests, corev1.ResourceCPU},
		{SettingCPULimit, res.Limits, corev1.ResourceCPU},
		{SettingMemoryRequest, res.Requests, corev1.ResourceMemory},
		{SettingMemoryLimit, res.Limits, corev1.ResourceMemory},
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

// CheckLiteralHost applies pol to the host of the http(s) URL raw when it
// is a literal address (an s3:// URL's host is a bucket).
func CheckLiteralHost(pol *egress.Policy, raw string) error {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	return pol.CheckURL(u)
}
