package uploadtoken

import (
	"errors"
	"fmt"
)

// Operation is what a token allows.
type Operation string

// OperationUpload allows one upload of an image into the claim.
const OperationUpload Operation = "upload"

// Scope is what a token opens: one operation on one claim.
type Scope struct {
	// Operation is what may be done.
	Operation Operation `json:"op"`
	// Namespace, Name and UID identify the claim.
	Namespace string `json:"ns"`
	Name      string `json:"pvc"`
	UID       string `json:"uid"`
}

// String names the scope for messages: "upload into ns/name".
func (s Scope) String() string {
	return fmt.Sprintf("%s into %s/%s", s.Operation, s.Namespace, s.Name)
}

// validate reports a scope that names no claim fully.
func (s Scope) validate() error {
	var errs []error
	if s.Operation != OperationUpload {
		errs = append(errs, fmt.Errorf("operation %q is not %q", s.Operation, OperationUpload))
	}
	if s.Namespace == "" || s.Name == "" || s.UID == "" {
		errs = append(errs, fmt.Errorf("the claim is not named fully (namespace %q, name %q, uid %q)", s.Namespace, s.Name, s.UID))
	}
	return errors.Join(errs...)
}

// Allows reports whether the scope opens op on the claim ns/name with uid.
func (s Scope) Allows(op Operation, ns, name, uid string) bool {
	return s.Operation == op && s.Namespace == ns && s.Name == name && s.UID == uid
}
