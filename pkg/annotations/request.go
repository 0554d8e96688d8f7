package annotations

import (
	"fmt"
	"net/url"
	"strings"
)

// ImportRequest is what a claim's annotations ask to import.
type ImportRequest struct {
	Endpoint      string `json:"endpoint"`
	SecretName    string `json:"secretName,omitempty"`
	CertConfigMap string `json:"certConfigMap,omitempty"`
	ContentType   string `json:"contentType"`
	Checksum      string `json:"checksum,omitempty"`
	// S3Endpoint overrides the S3 endpoint of an s3:// Endpoint.
	S3Endpoint string `json:"s3Endpoint,omitempty"`
}

// Schemes are the endpoint URL schemes an import accepts.
var Schemes = []string{"http", "https", "s3"}

// ImportRequestOf reads the import request from a claim's annotations. ok
// is false when the claim asks for no import.
func ImportRequestOf(ann map[string]string) (req ImportRequest, ok bool) {
	endpoint, ok := ann[Endpoint]
	if !ok {
		return ImportRequest{}, false
	}
	ct := ann[ContentType]
	if ct == "" {
		ct = ContentTypeKubeVirt
	}
	return ImportRequest{
		Endpoint:      strings.TrimSpace(endpoint),
		SecretName:    ann[SecretName],
		CertConfigMap: ann[CertConfigMap],
		ContentType:   ct,
		Checksum:      ann[Checksum],
		S3Endpoint:    strings.TrimSpace(ann[S3Endpoint]),
	}, true
}

// Validate checks what can be checked without the API server: the URL and
// its scheme, and the content type. Its errors are meant for users.
func (r ImportRequest) Validate() error {
	u, err := url.Parse(r.Endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q is not a URL: %w", r.Endpoint, err)
	}
	allowed := false
	for _, s := range Schemes {
		allowed = allowed || u.Scheme == s
	}
	if !allowed {
		return fmt.Errorf("endpoint %q: scheme %q is not supported (use http, https or s3)", r.Endpoint, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("endpoint %q has no host (or bucket)", r.Endpoint)
	}
	if r.S3Endpoint != "" {
		if u.Scheme != "s3" {
			return fmt.Errorf("an S3 endpoint (%s) is set but endpoint %q is not an s3:// URL", S3Endpoint, r.Endpoint)
		}
		e, err := url.Parse(r.S3Endpoint)
		if err != nil {
			return fmt.Errorf("S3 endpoint %q is not a URL: %w", r.S3Endpoint, err)
		}
		if (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return fmt.Errorf("S3 endpoint %q must be an http:// or https:// URL with a host", r.S3Endpoint)
		}
	}
	if r.ContentType != ContentTypeKubeVirt && r.ContentType != ContentTypeArchive {
		return fmt.Errorf("content type %q is not supported (use %q or %q)", r.ContentType, ContentTypeKubeVirt, ContentTypeArchive)
	}
	return nil
}
