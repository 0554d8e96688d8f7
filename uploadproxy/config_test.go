package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSettingsFromEnv(t *testing.T) {
	defaults := settings{Namespace: "cdi", Port: 8443, PodWait: 30 * time.Second, ShutdownTimeout: 10 * time.Minute, QPS: 50, Burst: 100}
	tests := []struct {
		name    string
		env     map[string]string
		want    settings
		wantErr []string
	}{
		{name: "defaults", env: map[string]string{EnvNamespace: "cdi"}, want: defaults},
		{name: "set", env: map[string]string{
			EnvNamespace: "cdi", EnvPort: "9443", EnvPodWait: "1m", EnvShutdownTimeout: "30s", EnvLogLevel: "debug", EnvQPS: "5", EnvBurst: "10",
		}, want: settings{Namespace: "cdi", Port: 9443, PodWait: time.Minute, ShutdownTimeout: 30 * time.Second, LogLevel: "debug", QPS: 5, Burst: 10}},
		{name: "every problem at once", env: map[string]string{EnvPort: "0", EnvPodWait: "soon", EnvShutdownTimeout: "-1s", EnvQPS: "x", EnvBurst: "-2"},
			wantErr: []string{EnvNamespace, EnvPort, EnvPodWait, EnvShutdownTimeout, EnvQPS, EnvBurst}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := settingsFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != nil {
				for _, w := range tt.wantErr {
					assert.ErrorContains(t, err, w)
				}
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
