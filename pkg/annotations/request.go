package annotations

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cdi-functions/cdi-functions/pkg/checksum"
	"github.com/cdi-functions/cdi-functions/pkg/redact"
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

// Validate checks what can be checked without the API server, so that a
// request that cannot work fails before any pod exists: the endpoint URL
// (scheme, host, no credentials in it), the S3 endpoint, the content type,
// the checksum's syntax and the names of the Secret and the CA ConfigMap.
// It reports every problem, each naming its annotation; the errors are
// meant for users.
func (r ImportRequest) Validate() error {
	var errs []error
	bad := func(annotation, format string, args ...any) {
		errs = append(errs, &InvalidError{Annotation: annotation, Problem: fmt.Sprintf(format, args...)})
	}
	u, err := url.Parse(r.Endpoint)
	switch {
	case err != nil:
		bad(Endpoint, "%q is not a URL", redact.String(r.Endpoint))
	case !slices.Contains(Schemes, u.Scheme):
		bad(Endpoint, "scheme %q is not supported (use http, https or s3)", u.Scheme)
	case u.User != nil:
		bad(Endpoint, "credentials in the URL are not accepted: put them in a Secret named by %s", SecretName)
	case u.Host == "":
		bad(Endpoint, "%q has no host (or bucket)", r.Endpoint)
	}
	if r.S3Endpoint != "" {
		e, err := url.Parse(r.S3Endpoint)
		switch {
		case err == nil && u != nil && u.Scheme != "s3":
			bad(S3Endpoint, "is set but the endpoint %q is not an s3:// URL", redact.String(r.Endpoint))
		case err != nil:
			bad(S3Endpoint, "%q is not a URL", redact.String(r.S3Endpoint))
		case (e.Scheme != "http" && e.Scheme != "https") || e.Host == "":
			bad(S3Endpoint, "%q must be an http:// or https:// URL with a host", redact.String(r.S3Endpoint))
		case e.User != nil:
			bad(S3Endpoint, "credentials in the URL are not accepted: put them in a Secret named by %s", SecretName)
		}
	}
	if r.ContentType != ContentTypeKubeVirt && r.ContentType != ContentTypeArchive {
		bad(ContentType, "%q is not supported (use %q or %q)", r.ContentType, ContentTypeKubeVirt, ContentTypeArchive)
	}
	if r.Checksum != "" {
		if _, err := checksum.Parse(r.Checksum); err != nil {
			bad(Checksum, "%v", err)
		}
	}
	for _, ref := range []struct{ annotation, value string }{{SecretName, r.SecretName}, {CertConfigMap, r.CertConfigMap}} {
		if ref.value == "" {
			continue
		}
		if problems := validation.IsDNS1123Subdomain(ref.value); len(problems) > 0 {
			bad(ref.annotation, "%q is not a valid object name: %s", ref.value, strings.Join(problems, "; "))
		}
	}
	return errors.Join(errs...)
}

// InvalidError is a request annotation with a value that cannot work.
type InvalidError struct {
	// Annotation is the annotation's name.
	Annotation string
	// Problem says what is wrong with its value.
	Problem string
}

func (e *InvalidError) Error() string { return "annotation " + e.Annotation + ": " + e.Problem }

// UploadRequest is what a claim's annotations ask of an upload.
type UploadRequest struct {
	// ContentType is the claim's content type (kubevirt or archive); an
	// upload may also name it per request (the x-cdi-content-type
	// header).
	ContentType string `json:"contentType"`
}

// UploadRequestOf reads the upload request from a claim's annotations. ok
// is false when the claim is not an upload target.
func UploadRequestOf(ann map[string]string) (req UploadRequest, ok bool) {
	if _, ok := ann[UploadTarget]; !ok {
		return UploadRequest{}, false
	}
	ct := ann[ContentType]
	if ct == "" {
		ct = ContentTypeKubeVirt
	}
	return UploadRequest{ContentType: ct}, true
}

// ValidateUpload checks an upload target's annotations ann: its content
// type, and that it does not also ask for an import (a claim is filled
// one way). Each problem names its annotation.
func ValidateUpload(ann map[string]string) error {
	var errs []error
	if r, ok := UploadRequestOf(ann); ok && r.ContentType != ContentTypeKubeVirt && r.ContentType != ContentTypeArchive {
		errs = append(errs, &InvalidError{Annotation: ContentType,
			Problem: fmt.Sprintf("%q is not supported (use %q or %q)", r.ContentType, ContentTypeKubeVirt, ContentTypeArchive)})
	}
	if _, ok := ann[Endpoint]; ok {
		errs = append(errs, &InvalidError{Annotation: UploadTarget,
			Problem: fmt.Sprintf("the claim also asks for an import (%s): remove one of the two", Endpoint)})
	}
	return errors.Join(errs...)
}

// CloneSource is what a claim's CloneRequest annotation asks to clone:
// the source claim.
type CloneSource struct {
	// Namespace and Name name the source claim.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is the annotation's form, "namespace/name".
func (r CloneSource) String() string { return r.Namespace + "/" + r.Name }

// CloneSourceOf reads the clone request from a claim's annotations. ok
// is false when the claim asks for no clone; err says why a value that is
// there cannot name a claim.
func CloneSourceOf(ann map[string]string) (src CloneSource, ok bool, err error) {
	v, ok := ann[CloneRequest]
	if !ok {
		return CloneSource{}, false, nil
	}
	ns, name, found := strings.Cut(strings.TrimSpace(v), "/")
	bad := func(problem string) error { return &InvalidError{Annotation: CloneRequest, Problem: problem} }
	switch {
	case !found || strings.Contains(name, "/"):
		return CloneSource{}, true, bad(fmt.Sprintf("%q is not namespace/claim", v))
	case len(validation.IsDNS1123Label(ns)) > 0:
		return CloneSource{}, true, bad(fmt.Sprintf("%q is not a namespace name", ns))
	case len(validation.IsDNS1123Subdomain(name)) > 0:
		return CloneSource{}, true, bad(fmt.Sprintf("%q is not a claim name", name))
	}
	return CloneSource{Namespace: ns, Name: name}, true, nil
}

// ValidateClone reports why a claim's clone request cannot work: a value
// that names no claim, or a claim that also asks for an import or an
// upload.
func ValidateClone(ann map[string]string) error {
	_, ok, err := CloneSourceOf(ann)
	if !ok {
		return nil
	}
	errs := []error{err}
	for _, other := range []string{Endpoint, UploadTarget} {
		if _, ok := ann[other]; ok {
			errs = append(errs, &InvalidError{Annotation: CloneRequest,
				Problem: fmt.Sprintf("the claim also asks for %s: remove one of the two", other)})
		}
	}
	return errors.Join(errs...)
}

// ValidateAll reports every problem of the requests a claim's annotations
// ann make (an import, an upload, a clone), each naming its annotation:
// what a claim made by an external request is checked with before it is
// created.
func ValidateAll(ann map[string]string) error {
	var errs []error
	if r, ok := ImportRequestOf(ann); ok {
		errs = append(errs, r.Validate())
	}
	if _, ok := UploadRequestOf(ann); ok {
		errs = append(errs, ValidateUpload(ann))
	}
	return errors.Join(append(errs, ValidateClone(ann))...)
}
