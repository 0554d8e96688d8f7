package main

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/apis/upload"
	"github.com/cdi-functions/cdi-functions/pkg/apis/upload/v1beta1"
)

// tokenRequest is a decoded, valid UploadTokenRequest. Both versions have
// one schema, so one Go type (v1beta1's) holds either; APIVersion says
// which was asked for and is answered.
type tokenRequest struct {
	obj *v1beta1.UploadTokenRequest
	// warnings are the unknown or duplicate fields, when fieldValidation
	// is Warn.
	warnings []string
	// dryRun: check, issue nothing.
	dryRun bool
}

// createParams are the query parameters of a create.
type createParams struct {
	// FieldValidation is Ignore, Warn (default) or Strict.
	FieldValidation string
	// DryRun is empty or All.
	DryRun []string
}

// decodeRequest decodes and validates the body of a create of version v
// in namespace ns. Every refusal is the Status to answer: 415 for a body
// that is neither JSON nor YAML, 400 for a malformed body, another group,
// version or kind, a namespace other than the URL's, unknown fields under
// fieldValidation=Strict; 422 for a missing name or claim name.
func decodeRequest(body []byte, contentType, v, ns string, p createParams) (*tokenRequest, *apierrors.StatusError) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/json", nil
	}
	if err != nil {
		return nil, unsupportedMediaType(contentType)
	}
	switch mt {
	case "application/json":
	case "application/yaml":
		if body, err = yaml.YAMLToJSON(body); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("malformed UploadTokenRequest: %v", err))
		}
	default:
		return nil, unsupportedMediaType(contentType)
	}
	r := &tokenRequest{}
	switch p.FieldValidation {
	case "", metav1.FieldValidationWarn, metav1.FieldValidationStrict, metav1.FieldValidationIgnore:
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("fieldValidation %q: want Ignore, Warn or Strict", p.FieldValidation))
	}
	for _, d := range p.DryRun {
		if d != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("dryRun %q: want All", d))
		}
		r.dryRun = true
	}

	obj := &v1beta1.UploadTokenRequest{}
	strict, err := kjson.UnmarshalStrict(body, obj, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("malformed UploadTokenRequest: %v", err))
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		switch p.FieldValidation {
		case metav1.FieldValidationStrict:
			return nil, apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
		case metav1.FieldValidationIgnore:
		default:
			r.warnings = msgs
		}
	}

	want := schema.GroupVersion{Group: upload.GroupName, Version: v}
	if obj.APIVersion != want.String() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%q) does not match the expected API version (%q)", obj.APIVersion, want))
	}
	if obj.Kind != upload.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%q) does not match the expected kind (%q)", obj.Kind, upload.Kind))
	}
	if obj.Namespace != "" && obj.Namespace != ns {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%q) does not match the namespace sent on the request (%q)", obj.Namespace, ns))
	}
	obj.Namespace = ns
	if obj.Name == "" && obj.GenerateName != "" {
		obj.Name = obj.GenerateName + randomSuffix()
	}
	var errs field.ErrorList
	if obj.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name or generateName is required"))
	} else {
		for _, m := range validation.IsDNS1123Subdomain(obj.Name) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), obj.Name, m))
		}
	}
	if obj.Spec.PvcName == "" {
		errs = append(errs, field.Required(field.NewPath("spec", "pvcName"), "the claim to upload into"))
	} else {
		for _, m := range validation.IsDNS1123Subdomain(obj.Spec.PvcName) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "pvcName"), obj.Spec.PvcName, m))
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(want.WithKind(upload.Kind).GroupKind(), obj.Name, errs)
	}
	obj.Status = v1beta1.UploadTokenRequestStatus{}
	r.obj = obj
	return r, nil
}

// randomSuffix is generateName's suffix: five characters as the API
// server draws them.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// unsupportedMediaType is the 415 answer to a body neither JSON nor YAML.
func unsupportedMediaType(contentType string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format (%q): send application/json or application/yaml", contentType),
	}}
}
