package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/webhook"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/cloneauth"
)

// admitter is the admission controller of clone claims: it decides
// (decide) and stamps the grant it decided on.
type admitter struct {
	// Admit needs no informer: the API server is asked directly.
	webhook.StatelessAdmissionImpl

	path string
	// sign makes a grant's token (cloneauth.Signer.Sign).
	sign func(cloneauth.Grant) (string, error)
	// mayClone reviews the requesting user's access (reviewAccess).
	mayClone accessReview
	now      func() time.Time
}

// Path implements webhook.AdmissionController.
func (a *admitter) Path() string { return a.path }

// Admit implements webhook.AdmissionController: claims are decoded, the
// decision made, and an allowed clone request answered with a JSON patch
// that sets its grant.
func (a *admitter) Admit(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	logger := logging.FromContext(ctx)
	if req.Resource.Group != "" || req.Resource.Resource != "persistentvolumeclaims" || req.SubResource != "" {
		return webhook.MakeErrorStatus("the clone webhook admits persistentvolumeclaims only, not %s", req.Resource.String())
	}
	r := request{op: req.Operation, user: req.UserInfo}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	var err error
	if r.claim, err = decodeClaim(req.Object.Raw, req.Namespace); err != nil {
		return webhook.MakeErrorStatus("decode the claim: %v", err)
	}
	if req.Operation == admissionv1.Update {
		if r.old, err = decodeClaim(req.OldObject.Raw, req.Namespace); err != nil {
			return webhook.MakeErrorStatus("decode the claim as it was: %v", err)
		}
	}

	v := decide(ctx, r, a.now(), a.mayClone)
	if !v.allowed {
		logger.Infow("Refused a clone claim", "reason", v.message)
		return deny(v.code, v.message)
	}
	if v.grant == nil {
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	token, err := a.sign(*v.grant)
	if err != nil {
		logger.Errorw("Signing a clone grant", "error", err)
		return deny(http.StatusInternalServerError, fmt.Sprintf("cdi-functions could not sign the clone authorization: %v", err))
	}
	patch, err := json.Marshal([]jsonPatchOp{{
		Op:    "add",
		Path:  "/metadata/annotations/" + escapeJSONPointer(annotations.CloneAuthorization),
		Value: token,
	}})
	if err != nil {
		return deny(http.StatusInternalServerError, fmt.Sprintf("encode the clone authorization patch: %v", err))
	}
	logger.Infow("Authorized a clone", "source", v.grant.Source, "user", v.grant.User, "boundBy", boundBy(*v.grant))
	pt := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}
}

// request is what decide needs of an admission request.
type request struct {
	op   admissionv1.Operation
	user authenticationv1.UserInfo
	// claim is the claim as it would be stored; old, on UPDATE, as it is.
	claim, old *corev1.PersistentVolumeClaim
}

// verdict is decide's answer.
type verdict struct {
	allowed bool
	// code and message say why not (HTTP status, a sentence for the user).
	code    int32
	message string
	// grant, when set, is stamped on the claim.
	grant *cloneauth.Grant
}

// writtenByUs is the refusal of a user-written grant.
var writtenByUs = fmt.Sprintf("the annotation %s is written only by cdi-functions: remove it from the request", annotations.CloneAuthorization)

// decide is the clone webhook's rule, at time now:
//   - a claim without a clone request may not gain or change a grant;
//   - a clone request must be valid (annotations.ValidateClone), unless
//     the claim is being deleted and the request is unchanged (its
//     finalizers must go);
//   - a new or changed clone request needs the requesting user to pass
//     mayClone for the source's namespace, and gets a fresh grant (bound by
//     UID on UPDATE; by creation time on CREATE, as there is no UID yet),
//     whatever grant the user wrote;
//   - an unchanged clone request keeps its grant: one the user changes is
//     refused.
//
// Errors of mayClone refuse the request (fail closed).
func decide(ctx context.Context, r request, now time.Time, mayClone accessReview) verdict {
	ann := r.claim.Annotations
	var oldAnn map[string]string
	if r.old != nil {
		oldAnn = r.old.Annotations
	}
	grant, hasGrant := ann[annotations.CloneAuthorization]
	oldGrant, hadGrant := oldAnn[annotations.CloneAuthorization]
	grantChanged := hasGrant != hadGrant || grant != oldGrant

	src, asks, _ := annotations.CloneSourceOf(ann)
	if !asks {
		if hasGrant && grantChanged {
			return refused(http.StatusForbidden, writtenByUs)
		}
		return verdict{allowed: true}
	}
	oldReq, hadReq := oldAnn[annotations.CloneRequest]
	unchanged := r.op == admissionv1.Update && hadReq && oldReq == ann[annotations.CloneRequest]
	if unchanged && grantChanged {
		return refused(http.StatusForbidden, writtenByUs)
	}
	if unchanged && r.claim.DeletionTimestamp != nil {
		// A claim being deleted must lose its finalizers whatever it asks.
		return verdict{allowed: true}
	}
	if err := annotations.ValidateClone(ann); err != nil {
		return refused(http.StatusUnprocessableEntity, err.Error())
	}
	if unchanged {
		return verdict{allowed: true}
	}

	if r.claim.Name == "" {
		return refused(http.StatusUnprocessableEntity,
			"a clone claim needs a name: metadata.generateName is not supported, as the clone authorization is bound to the name")
	}
	allowed, err := mayClone(ctx, r.user, src.Namespace)
	if err != nil {
		return refused(http.StatusInternalServerError,
			fmt.Sprintf("could not check whether user %s may clone from namespace %s: %v", r.user.Username, src.Namespace, err))
	}
	if !allowed {
		return refused(http.StatusForbidden, missingPermission(r.user.Username, src.Namespace))
	}
	g := &cloneauth.Grant{
		TargetNamespace: r.claim.Namespace,
		TargetName:      r.claim.Name,
		Source:          src.String(),
		User:            r.user.Username,
		IssuedAt:        now.UTC(),
	}
	if r.op == admissionv1.Update {
		g.TargetUID = string(r.claim.UID)
	}
	return verdict{allowed: true, grant: g}
}

func refused(code int32, message string) verdict {
	return verdict{code: code, message: message}
}

// deny is the admission response of a refusal; the API server shows the
// message as `admission webhook "clone.cdi-functions.io" denied the
// request: <message>`.
func deny(code int32, message string) *admissionv1.AdmissionResponse {
	reason := metav1.StatusReasonForbidden
	switch code {
	case http.StatusUnprocessableEntity:
		reason = metav1.StatusReasonInvalid
	case http.StatusInternalServerError:
		reason = metav1.StatusReasonInternalError
	}
	return &admissionv1.AdmissionResponse{Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: message,
	}}
}

// decodeClaim decodes a claim of an admission request; ns fills a
// namespace the object does not carry.
func decodeClaim(raw []byte, ns string) (*corev1.PersistentVolumeClaim, error) {
	var c corev1.PersistentVolumeClaim
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.Namespace == "" {
		c.Namespace = ns
	}
	return &c, nil
}

// jsonPatchOp is one operation of an RFC 6902 JSON patch.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// escapeJSONPointer escapes a map key for an RFC 6901 JSON pointer: "~" is
// "~0" and "/" is "~1".
func escapeJSONPointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// boundBy says, for the logs, how a grant is bound to its claim.
func boundBy(g cloneauth.Grant) string {
	if g.TargetUID != "" {
		return "uid"
	}
	return "creationTime"
}
