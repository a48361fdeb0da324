package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetabotSpec is one bot on the Metabot platform.
type MetabotSpec struct {
	// URL of the Metabot installation, https only. Without a path the API is taken to live
	// under /api/v1 (https://app.metabot24.com/api/v1); a URL with a path names the API root
	// itself (e.g. https://metabot.example.com/api/v2), and jobs go to <root>/bots/{botId}/jobs/schedule.
	// Defaults to https://app.metabot24.com.
	// +optional
	URL *HTTPSURL `json:"url,omitempty"`

	// BotID is the Metabot bot id. Immutable.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="botId is immutable"
	BotID int64 `json:"botId"`

	// TokenSecretRef selects the Secret key holding the Bearer token of an API user of the bot.
	TokenSecretRef KeyReference `json:"tokenSecretRef"`

	// CABundle makes the operator trust this CA for the Metabot endpoint. Defaults to the
	// system roots.
	// +optional
	CABundle *ConfigMapSource `json:"caBundle,omitempty"`

	// RateLimit is the client-side leaky bucket for requests to this Metabot bot.
	// Defaults to 5 requests per second with a burst of 10.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// MetabotStatus is the observed state of a Metabot.
type MetabotStatus struct {
	CommonStatus `json:",inline"`
	// Endpoint is the resolved job scheduling URL.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// Metabot is one bot on the Metabot platform: endpoint, bot id and token.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=metabot,categories=b24ops
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Bot ID",type=integer,JSONPath=`.spec.botId`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type Metabot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MetabotSpec `json:"spec"`
	// +kubebuilder:default={}
	Status MetabotStatus `json:"status,omitempty"`
}

// MetabotList is a list of Metabots.
// +kubebuilder:object:root=true
type MetabotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Metabot `json:"items"`
}

func init() { SchemeBuilder.Register(&Metabot{}, &MetabotList{}) }
