package auth

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// TokenFile is where senders find their projected ServiceAccount token
// for Audience: the components' Deployments and the data pods mount a
// serviceAccountToken projection here.
const TokenFile = "/var/run/secrets/cdi-functions/token"

// TokenExpirationSeconds is the lifetime requested for the projected
// tokens (the kubelet renews them at 80% of it). Ten minutes is the
// shortest the API server issues.
const TokenExpirationSeconds = 600

// FileToken is a sender's token, read from a file the kubelet keeps fresh
// (a projected ServiceAccount token). It re-reads the file when its last
// read is older than its refresh interval, so a rotated token is picked up
// long before the old one expires. Safe for concurrent use.
type FileToken struct {
	path    string
	refresh time.Duration
	now     func() time.Time

	mu     sync.Mutex
	token  string
	readAt time.Time
}

// NewFileToken reads tokens from path, re-reading at most every minute.
func NewFileToken(path string) *FileToken {
	return &FileToken{path: path, refresh: time.Minute, now: time.Now}
}

// Token returns the current token.
func (f *FileToken) Token() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.token != "" && now.Sub(f.readAt) < f.refresh {
		return f.token, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("read token %s: the file is empty", f.path)
	}
	f.token, f.readAt = t, now
	return t, nil
}

// SinkTokenFile is where a Knative SinkBinding mounts the OIDC token for
// its sink's audience (the Broker's) when Knative's authentication-oidc
// feature is on. A sender through a Broker presents it in the
// Authorization header, for the Broker, and keeps its own token for
// Audience in the event's TokenExtension, for the function behind it.
const SinkTokenFile = "/oidc/token"

// OptionalFileToken is NewFileToken(path).Token when path exists, nil when
// it does not (a sink without OIDC takes no token).
func OptionalFileToken(path string) func() (string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	return NewFileToken(path).Token
}
