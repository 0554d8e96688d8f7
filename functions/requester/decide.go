package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reply"
)

// request is an external request as the requester sees it: the event's
// id and source, who sent it, and what it asks.
type request struct {
	ID, Source string
	Sender     string
	Payload    events.VolumeRequestedPayload
}

// Bounds of the request id and source: they are kept as annotations.
const (
	maxID     = 253
	maxSource = 1024
)

// fieldOf names, for a requester, the field of the request an annotation
// problem is about.
var fieldOf = map[string]string{
	annotations.Endpoint:      "source.import.endpoint",
	annotations.SecretName:    "source.import.secretName",
	annotations.CertConfigMap: "source.import.certConfigMap",
	annotations.Checksum:      "source.import.checksum",
	annotations.S3Endpoint:    "source.import.s3Endpoint",
	annotations.ContentType:   "contentType",
	annotations.CloneRequest:  "source.clone",
	annotations.UploadTarget:  "source.upload",
}

// validate reports every reason the request cannot be made into a claim,
// each naming its field. It checks what the API server would refuse too
// (names, quantities), so that the sender gets every reason at once, and
// what only the importer or the cloner would find later (the endpoint, the
// checksum), so that nothing is created for a request that cannot work.
func validate(r request) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if r.ID == "" || len(r.ID) > maxID {
		bad("id", "the event id is the request id: 1 to %d characters", maxID)
	}
	if len(r.Source) > maxSource {
		bad("source", "at most %d characters", maxSource)
	}
	p := r.Payload
	if problems := validation.IsDNS1123Label(p.Claim.Namespace); len(problems) > 0 {
		bad("claim.namespace", "%q is not a namespace name: %s", p.Claim.Namespace, strings.Join(problems, "; "))
	}
	if problems := validation.IsDNS1123Subdomain(p.Claim.Name); len(problems) > 0 {
		bad("claim.name", "%q is not a claim name: %s", p.Claim.Name, strings.Join(problems, "; "))
	}
	if q, err := resource.ParseQuantity(p.Size); err != nil {
		bad("size", "%q is not a quantity (e.g. 10Gi)", p.Size)
	} else if q.Sign() <= 0 {
		bad("size", "%q must be more than zero", p.Size)
	}
	for _, m := range p.AccessModes {
		if !slices.Contains(accessModes, corev1.PersistentVolumeAccessMode(m)) {
			bad("accessModes", "%q is not an access mode (%s)", m, joined(accessModes))
		}
	}
	if p.VolumeMode != "" && p.VolumeMode != string(corev1.PersistentVolumeFilesystem) && p.VolumeMode != string(corev1.PersistentVolumeBlock) {
		bad("volumeMode", "%q is not a volume mode (Filesystem, Block)", p.VolumeMode)
	}
	if p.StorageClassName != "" {
		if problems := validation.IsDNS1123Subdomain(p.StorageClassName); len(problems) > 0 {
			bad("storageClassName", "%q is not a storage class name", p.StorageClassName)
		}
	}
	if p.ReplyTo != "" && p.Claim.Namespace != "" {
		if err := reply.CheckTarget(p.ReplyTo, p.Claim.Namespace); err != nil {
			bad("replyTo", "%v", err)
		}
	}
	switch n := sources(p.Source); {
	case n == 0:
		bad("source", "names no source: set one of import, upload and clone")
	case n > 1:
		bad("source", "names %d sources: set only one of import, upload and clone", n)
	default:
		errs = append(errs, asFields(annotations.ValidateAll(annotationsOf(p))))
		if p.Source.Clone != nil && p.ContentType != "" {
			bad("contentType", "does not apply to a clone, which copies its source")
		}
	}
	return errors.Join(errs...)
}

var accessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod}

func joined(modes []corev1.PersistentVolumeAccessMode) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func sources(s events.VolumeSource) int {
	n := 0
	for _, set := range []bool{s.Import != nil, s.Upload != nil, s.Clone != nil} {
		if set {
			n++
		}
	}
	return n
}

// asFields rewrites the annotations' problems in the request's terms.
func asFields(err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var inv *annotations.InvalidError
		if errors.As(e, &inv) {
			field, ok := fieldOf[inv.Annotation]
			if !ok {
				field = inv.Annotation
			}
			out = append(out, fmt.Errorf("%s: %s", field, inv.Problem))
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// annotationsOf are the request annotations the claim carries: the same
// the seed's YAML would, so that the normal flow runs.
func annotationsOf(p events.VolumeRequestedPayload) map[string]string {
	ann := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			ann[k] = v
		}
	}
	switch s := p.Source; {
	case s.Import != nil:
		ann[annotations.Endpoint] = s.Import.Endpoint
		set(annotations.SecretName, s.Import.SecretName)
		set(annotations.CertConfigMap, s.Import.CertConfigMap)
		set(annotations.Checksum, s.Import.Checksum)
		set(annotations.S3Endpoint, s.Import.S3Endpoint)
	case s.Upload != nil:
		ann[annotations.UploadTarget] = ""
	case s.Clone != nil:
		ann[annotations.CloneRequest] = s.Clone.String()
	}
	set(annotations.ContentType, p.ContentType)
	return ann
}

// claimFor is the claim a valid request asks for, carrying the request
// that made it.
func claimFor(r request) *corev1.PersistentVolumeClaim {
	p := r.Payload
	ann := annotationsOf(p)
	ann[annotations.RequestID] = r.ID
	ann[annotations.RequestSource] = r.Source
	ann[annotations.RequestedBy] = r.Sender
	ann[annotations.RequestDigest] = p.Digest()
	if p.ReplyTo != "" {
		ann[annotations.ReplyTo] = p.ReplyTo
	}
	modes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	if len(p.AccessModes) > 0 {
		modes = modes[:0]
		for _, m := range p.AccessModes {
			modes = append(modes, corev1.PersistentVolumeAccessMode(m))
		}
	}
	c := &corev1.PersistentVolumeClaim{}
	c.Namespace, c.Name, c.Annotations = p.Claim.Namespace, p.Claim.Name, ann
	c.Labels = map[string]string{"app.kubernetes.io/created-by": "cdi-requester"}
	c.Spec.AccessModes = modes
	c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(p.Size)}
	if p.StorageClassName != "" {
		c.Spec.StorageClassName = &p.StorageClassName
	}
	if p.VolumeMode != "" {
		mode := corev1.PersistentVolumeMode(p.VolumeMode)
		c.Spec.VolumeMode = &mode
	}
	return c
}

// sameRequest reports nil when existing was made by this very request (it
// came again), or why it was not: the claim's name is taken.
func sameRequest(existing *corev1.PersistentVolumeClaim, r request) error {
	ann := existing.Annotations
	name := existing.Namespace + "/" + existing.Name
	id, made := ann[annotations.RequestID]
	switch {
	case !made:
		return fmt.Errorf("claim %s exists and was not made by a request", name)
	case id != r.ID || ann[annotations.RequestSource] != r.Source:
		return fmt.Errorf("claim %s was made by another request (id %q from %q)", name, id, ann[annotations.RequestSource])
	case ann[annotations.RequestedBy] != r.Sender:
		return fmt.Errorf("claim %s was made by request %q of another sender", name, id)
	case ann[annotations.RequestDigest] != r.Payload.Digest():
		return fmt.Errorf("claim %s was made by request %q asking something else: a request id names one request", name, id)
	case existing.DeletionTimestamp != nil:
		return fmt.Errorf("claim %s of this request is being deleted: send a new request once it is gone", name)
	}
	return nil
}
