package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Environment variables the upload proxy reads.
const (
	// EnvNamespace is the system namespace, where the Secrets of the token
	// keys, the upload pod authority and the serving certificate live
	// (required; the Deployment sets it from the downward API).
	EnvNamespace = "SYSTEM_NAMESPACE"
	// EnvPort is the HTTPS port (default 8443).
	EnvPort = "PORT"
	// EnvPodWait bounds how long an upload waits for its claim's upload
	// pod to be ready before it is answered 503 with Retry-After (a
	// duration, default 30s).
	EnvPodWait = "UPLOAD_POD_WAIT"
	// EnvShutdownTimeout bounds how long running uploads may go on after
	// SIGTERM (a duration, default 10m); the Deployment's
	// terminationGracePeriodSeconds must exceed it plus the drain delay.
	EnvShutdownTimeout = "SHUTDOWN_TIMEOUT"
	// EnvLogLevel is the zap level (default info).
	EnvLogLevel = "LOG_LEVEL"
	// EnvQPS and EnvBurst are the client's rate limit towards the API
	// server (the names knative.dev/pkg uses).
	EnvQPS   = "KUBE_API_QPS"
	EnvBurst = "KUBE_API_BURST"
)

// Defaults of the settings.
const (
	defaultPort            = 8443
	defaultPodWait         = 30 * time.Second
	defaultShutdownTimeout = 10 * time.Minute
	// The proxy reads from its informers; the API server sees a GET only
	// when the cache does not know a claim yet.
	defaultQPS   = 50
	defaultBurst = 100
)

// settings is the upload proxy's configuration.
type settings struct {
	Namespace       string
	Port            int
	PodWait         time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string
	QPS             float32
	Burst           int
}

// settingsFromEnv reads the configuration; every problem is reported at
// once.
func settingsFromEnv(getenv func(string) string) (settings, error) {
	s := settings{
		Namespace: getenv(EnvNamespace), Port: defaultPort, PodWait: defaultPodWait,
		ShutdownTimeout: defaultShutdownTimeout, LogLevel: getenv(EnvLogLevel),
		QPS: defaultQPS, Burst: defaultBurst,
	}
	var errs []error
	if s.Namespace == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the namespace of cdi-functions' components", EnvNamespace))
	}
	if v := getenv(EnvPort); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s %q: want a port number", EnvPort, v))
		}
		s.Port = p
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{EnvPodWait, &s.PodWait}, {EnvShutdownTimeout, &s.ShutdownTimeout}} {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive duration such as 30s", d.env, v))
			continue
		}
		*d.to = parsed
	}
	if v := getenv(EnvQPS); v != "" {
		q, err := strconv.ParseFloat(v, 32)
		if err != nil || q <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive number", EnvQPS, v))
		}
		s.QPS = float32(q)
	}
	if v := getenv(EnvBurst); v != "" {
		b, err := strconv.Atoi(v)
		if err != nil || b <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive integer", EnvBurst, v))
		}
		s.Burst = b
	}
	return s, errors.Join(errs...)
}
