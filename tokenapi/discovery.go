package main

import (
	"mime"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/apis/upload"
	"github.com/cdi-functions/cdi-functions/pkg/apis/upload/v1alpha1"
	"github.com/cdi-functions/cdi-functions/pkg/apis/upload/v1beta1"
)

// versions are the served versions of the group, preferred first.
var versions = []string{v1beta1.Version, v1alpha1.Version}

// resource is the group and resource of UploadTokenRequests, for errors.
var resource = v1beta1.Resource(upload.Resource)

// verbs are what UploadTokenRequests support: nothing is stored, so
// creating one is all there is.
var verbs = metav1.Verbs{"create"}

// served reports whether v is a served version.
func served(v string) bool {
	for _, s := range versions {
		if s == v {
			return true
		}
	}
	return false
}

// groupVersions are the group's versions for discovery documents.
func groupVersions() []metav1.GroupVersionForDiscovery {
	out := make([]metav1.GroupVersionForDiscovery, 0, len(versions))
	for _, v := range versions {
		out = append(out, metav1.GroupVersionForDiscovery{GroupVersion: upload.GroupName + "/" + v, Version: v})
	}
	return out
}

// apiGroup is the document of /apis/upload.cdi.kubevirt.io.
func apiGroup() *metav1.APIGroup {
	gvs := groupVersions()
	return &metav1.APIGroup{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:     upload.GroupName, Versions: gvs, PreferredVersion: gvs[0],
	}
}

// apiGroupList is the legacy document of /apis.
func apiGroupList() *metav1.APIGroupList {
	g := apiGroup()
	g.TypeMeta = metav1.TypeMeta{}
	return &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{*g}}
}

// apiResourceList is the document of /apis/upload.cdi.kubevirt.io/<v>,
// which the aggregator also polls to know the APIService is available.
func apiResourceList(v string) *metav1.APIResourceList {
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: upload.GroupName + "/" + v,
		APIResources: []metav1.APIResource{{
			Name: upload.Resource, SingularName: upload.Singular, Namespaced: true,
			Kind: upload.Kind, Verbs: verbs,
		}},
	}
}

// aggregatedDiscoveryType is the media type of aggregated discovery (v2),
// which the kube-apiserver asks for first: one answer for every version.
const aggregatedDiscoveryType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated reports whether an Accept header asks for aggregated
// discovery v2.
func wantsAggregated(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" && params["g"] == "apidiscovery.k8s.io" &&
			params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

// apiGroupDiscoveryList is the aggregated discovery document of /apis.
func apiGroupDiscoveryList() *apidiscoveryv2.APIGroupDiscoveryList {
	g := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: upload.GroupName}}
	for _, v := range versions {
		g.Versions = append(g.Versions, apidiscoveryv2.APIVersionDiscovery{
			Version: v,
			Resources: []apidiscoveryv2.APIResourceDiscovery{{
				Resource:         upload.Resource,
				SingularResource: upload.Singular,
				Scope:            apidiscoveryv2.ScopeNamespace,
				ResponseKind:     &metav1.GroupVersionKind{Group: upload.GroupName, Version: v, Kind: upload.Kind},
				Verbs:            verbs,
			}},
			Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
		})
	}
	return &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"},
		Items:    []apidiscoveryv2.APIGroupDiscovery{g},
	}
}
