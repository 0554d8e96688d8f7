package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/cdi-functions/cdi-functions/pkg/apis/upload"
)

// The OpenAPI v3 documents of the group, which the kube-apiserver
// aggregates under /openapi/v3 for kubectl: `kubectl explain` reads the
// schema, and kubectl's field validation check looks for the
// fieldValidation parameter on the kind's PATCH operation, which is
// described (it always answers 404: nothing is stored) so that kubectl
// leaves the check of unknown fields to this server (fieldValidation=Strict
// is honoured on create).

// openAPIDocs are the documents by group version path
// ("apis/upload.cdi.kubevirt.io/v1beta1"), the index of /openapi/v3 and
// the Swagger 2.0 document of /openapi/v2 (which the kube-apiserver
// merges into its own; without it, it retries and logs an error forever).
type openAPIDocs struct {
	docs  map[string][]byte
	index []byte
	v2    []byte
}

// newOpenAPIDocs renders the documents of every served version.
func newOpenAPIDocs() (*openAPIDocs, error) {
	o := &openAPIDocs{docs: map[string][]byte{}}
	paths := map[string]any{}
	for _, v := range versions {
		key := "apis/" + upload.GroupName + "/" + v
		b, err := json.Marshal(openAPIDoc(v))
		if err != nil {
			return nil, fmt.Errorf("render the OpenAPI document of %s: %w", v, err)
		}
		o.docs[key] = b
		sum := sha256.Sum256(b)
		paths[key] = map[string]string{"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + hex.EncodeToString(sum[:])}
	}
	idx, err := json.Marshal(map[string]any{"paths": paths})
	if err != nil {
		return nil, fmt.Errorf("render the OpenAPI index: %w", err)
	}
	o.index = idx
	if o.v2, err = json.Marshal(swaggerDoc()); err != nil {
		return nil, fmt.Errorf("render the OpenAPI v2 document: %w", err)
	}
	return o, nil
}

// openAPIDoc is the OpenAPI 3.0 document of one version.
func openAPIDoc(v string) map[string]any {
	gvk := map[string]string{"group": upload.GroupName, "version": v, "kind": upload.Kind}
	name := "io.kubevirt.cdi.upload." + v + "." + upload.Kind
	ref := map[string]any{"$ref": "#/components/schemas/" + name}
	query := func(n, desc string) map[string]any {
		return map[string]any{"name": n, "in": "query", "description": desc, "schema": map[string]any{"type": "string", "uniqueItems": true}}
	}
	pathParam := func(n, desc string) map[string]any {
		return map[string]any{"name": n, "in": "path", "required": true, "description": desc, "schema": map[string]any{"type": "string", "uniqueItems": true}}
	}
	fieldValidation := query("fieldValidation", "Ignore, Warn or Strict: how unknown or duplicate fields in the request are treated (default Warn; kubectl sends Strict).")
	jsonBody := map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": ref}}}
	notStored := map[string]any{"404": map[string]any{"description": "Not Found: UploadTokenRequests are never stored"}}
	collection := "/apis/" + upload.GroupName + "/" + v + "/namespaces/{namespace}/" + upload.Resource
	return map[string]any{
		"openapi": "3.0.0",
		"info":    map[string]any{"title": "cdi-functions upload API", "version": v},
		"paths": map[string]any{
			collection: map[string]any{
				"parameters": []any{pathParam("namespace", "object name and auth scope, such as for teams and projects")},
				"post": map[string]any{
					"description": "create an UploadTokenRequest: answers with a fresh upload token in status.token; nothing is stored",
					"operationId": "create" + v + "Namespaced" + upload.Kind,
					"tags":        []string{upload.GroupName + "_" + v},
					"parameters": []any{
						query("dryRun", "All: check the request and the caller's permission, issue no token."),
						query("fieldManager", "Ignored: nothing is stored."), fieldValidation,
					},
					"requestBody": map[string]any{"required": true, "content": jsonBody["content"]},
					"responses": map[string]any{
						"201": map[string]any{"description": "Created", "content": jsonBody["content"]},
						"401": map[string]any{"description": "Unauthorized"},
						"403": map[string]any{"description": "Forbidden: the caller may not update the claim"},
					},
					"x-kubernetes-action":             "post",
					"x-kubernetes-group-version-kind": gvk,
				},
			},
			collection + "/{name}": map[string]any{
				"parameters": []any{
					pathParam("name", "name of the UploadTokenRequest"),
					pathParam("namespace", "object name and auth scope, such as for teams and projects"),
				},
				"patch": map[string]any{
					"description":                     "always Not Found: UploadTokenRequests are never stored, create one instead",
					"operationId":                     "patch" + v + "Namespaced" + upload.Kind,
					"tags":                            []string{upload.GroupName + "_" + v},
					"parameters":                      []any{fieldValidation},
					"responses":                       notStored,
					"x-kubernetes-action":             "patch",
					"x-kubernetes-group-version-kind": gvk,
				},
			},
		},
		"components": map[string]any{"schemas": map[string]any{name: schemaOf(v)}},
	}
}

// schemaOf is the schema of an UploadTokenRequest of version v (the same
// in OpenAPI 3.0 and Swagger 2.0: no references).
func schemaOf(v string) map[string]any {
	gvk := map[string]string{"group": upload.GroupName, "version": v, "kind": upload.Kind}
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	return map[string]any{
		"type":        "object",
		"description": "UploadTokenRequest asks for a token that authorizes one upload into one claim of the request's namespace. It is never stored: creating one answers with the token in status.token, valid for five minutes and only for the claim (by name and UID) named in spec.pvcName. The caller must be allowed to update that claim.",
		"required":    []string{"spec"},
		"properties": map[string]any{
			"apiVersion": str("APIVersion defines the versioned schema of this representation of an object."),
			"kind":       str("Kind is a string value representing the REST resource this object represents."),
			"metadata":   map[string]any{"type": "object", "description": "Standard object's metadata: name and namespace."},
			"spec": map[string]any{
				"type": "object", "description": "Spec names the claim to upload into.", "required": []string{"pvcName"},
				"properties": map[string]any{"pvcName": str("PvcName is the claim, in the request's namespace, to upload into; it must exist and carry the annotation cdi.kubevirt.io/storage.upload.target.")},
			},
			"status": map[string]any{
				"type": "object", "description": "Status carries the token, filled in by the server.",
				"properties": map[string]any{"token": str("Token is the upload token (an ES256 JWT, 5 minutes), presented to the upload proxy as \"Authorization: Bearer <token>\".")},
			},
		},
		"x-kubernetes-group-version-kind": []any{gvk},
	}
}

// swaggerDoc is the Swagger 2.0 document of both versions: the schemas and
// the create operations.
func swaggerDoc() map[string]any {
	paths := map[string]any{}
	defs := map[string]any{}
	for _, v := range versions {
		name := "io.kubevirt.cdi.upload." + v + "." + upload.Kind
		defs[name] = schemaOf(v)
		ref := map[string]any{"$ref": "#/definitions/" + name}
		paths["/apis/"+upload.GroupName+"/"+v+"/namespaces/{namespace}/"+upload.Resource] = map[string]any{
			"parameters": []any{map[string]any{"name": "namespace", "in": "path", "required": true, "type": "string", "uniqueItems": true,
				"description": "object name and auth scope, such as for teams and projects"}},
			"post": map[string]any{
				"description": "create an UploadTokenRequest: answers with a fresh upload token in status.token; nothing is stored",
				"operationId": "create" + v + "Namespaced" + upload.Kind,
				"consumes":    []string{"application/json", "application/yaml"},
				"produces":    []string{"application/json"},
				"schemes":     []string{"https"},
				"tags":        []string{upload.GroupName + "_" + v},
				"parameters": []any{
					map[string]any{"name": "body", "in": "body", "required": true, "schema": ref},
					map[string]any{"name": "dryRun", "in": "query", "type": "string", "uniqueItems": true},
					map[string]any{"name": "fieldManager", "in": "query", "type": "string", "uniqueItems": true},
					map[string]any{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true},
				},
				"responses": map[string]any{
					"201": map[string]any{"description": "Created", "schema": ref},
					"401": map[string]any{"description": "Unauthorized"},
					"403": map[string]any{"description": "Forbidden: the caller may not update the claim"},
				},
				"x-kubernetes-action":             "post",
				"x-kubernetes-group-version-kind": map[string]string{"group": upload.GroupName, "version": v, "kind": upload.Kind},
			},
		}
	}
	return map[string]any{
		"swagger":     "2.0",
		"info":        map[string]any{"title": "cdi-functions upload API", "version": "v1beta1"},
		"paths":       paths,
		"definitions": defs,
	}
}
