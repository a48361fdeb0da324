// Package v1alpha1 contains the b24ops.io/v1alpha1 API: Bitrix24 chat bots, chat apps and bot
// chats, and Metabot scheduled jobs, declared as Kubernetes objects.
//
// +kubebuilder:object:generate=true
// +groupName=b24ops.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "b24ops.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
