// Package boot holds the process plumbing every long-running
// cdi-functions program shares (the functions' runtime, the token API, the
// upload proxy): its logger and its Kubernetes client configuration.
package boot

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// NewLogger builds the JSON zap logger of the component name at level
// (default info; a zap level name such as debug, info, warn, error).
func NewLogger(name, level string) (*zap.SugaredLogger, error) {
	cfg := zap.NewProductionConfig()
	if level != "" {
		var l zapcore.Level
		if err := l.Set(level); err != nil {
			return nil, fmt.Errorf("log level %q: %w", level, err)
		}
		cfg.Level = zap.NewAtomicLevelAt(l)
	}
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	l, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("logger: %w", err)
	}
	return l.Named(name).Sugar(), nil
}

// RestConfig is the in-cluster configuration, or kubeconfig's when that
// path is set (a program run outside the cluster, with --kubeconfig).
func RestConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (or pass --kubeconfig): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
