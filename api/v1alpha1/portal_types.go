package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PortalSpec is one Bitrix24 application on one portal.
// +kubebuilder:validation:XValidation:rule="!has(self.auth.oauth) || !has(self.auth.oauth.tokenURL) || (isURL(self.auth.oauth.tokenURL) && url(self.auth.oauth.tokenURL).getScheme() == 'https')",message="auth.oauth.tokenURL must be an https URL",fieldPath=".auth.oauth.tokenURL"
type PortalSpec struct {
	// URL of the portal, https only, for example https://acme.bitrix24.ru. Its host (with the
	// port when not 443) identifies the portal.
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",message="url must be an absolute https URL"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || (url(self).getEscapedPath() in ['', '/'] && !self.contains('?') && !self.contains('#') && !self.contains('@'))",message="url must name the portal only, without a path, query, fragment or user info"
	URL string `json:"url"`

	// Auth holds the application's credentials: exactly one of webhook or oauth.
	Auth PortalAuth `json:"auth"`

	// CABundle makes the operator trust this CA for the portal (on-premise portals, the local
	// simulator). Defaults to the system roots.
	// +optional
	CABundle *ConfigMapSource `json:"caBundle,omitempty"`

	// RateLimit is the client-side leaky bucket shared by every request to this portal's host.
	// Defaults to 2 requests per second with a burst of 50 (Bitrix24's own limit; Enterprise
	// plans allow 5 / 250).
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// MaxBots is how many ChatBots this application may have. Defaults to 5 (Bitrix24's limit).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxBots *int32 `json:"maxBots,omitempty"`

	// ResyncInterval is how often remote state is checked for drift (Go duration, at least 30s).
	// Defaults to 10m.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s')",message="resyncInterval must be a duration of at least 30s, for example 10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +optional
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`
}

// PortalAuth holds exactly one way to authenticate.
// +kubebuilder:validation:XValidation:rule="has(self.webhook) != has(self.oauth)",message="exactly one of auth.webhook or auth.oauth must be set"
type PortalAuth struct {
	// Webhook authenticates with an inbound webhook URL.
	// +optional
	Webhook *WebhookAuth `json:"webhook,omitempty"`
	// OAuth authenticates as an OAuth application.
	// +optional
	OAuth *OAuthAuth `json:"oauth,omitempty"`
}

// WebhookAuth is an inbound webhook.
type WebhookAuth struct {
	// ClientID is the webhook identity: sent as CLIENT_ID with every v1 imbot.* call and as
	// botToken with every imbot.v2 call; the bots belong to the application "custom"+clientId,
	// which has its own bot limit. V2 bots need it to be at most 40 characters. Because it
	// controls the bots, it may instead be kept in the webhook Secret (key clientId): set it in
	// exactly one of the two places. A clientId written here is not secret: it is part of
	// status.applicationKey. Changing it rotates every V2 bot of the Portal onto the new token
	// (imbot.v2.Bot.update fields.botToken); V1 bots cannot move to another identity.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+$`
	// +optional
	ClientID string `json:"clientId,omitempty"`
	// SecretRef names the Secret whose key `webhookURL` holds the inbound webhook URL
	// (https://PORTAL/rest/USER_ID/CODE/). Its host must equal spec.url's host. Optional keys:
	// `clientId`, the webhook identity when spec.auth.webhook.clientId is not set, and
	// `previousClientId`, the identity the V2 bots were registered with before it changed (read
	// while the bots are moved onto the new one; remove it when the Portal is Ready again).
	SecretRef LocalObjectReference `json:"secretRef"`
}

// OAuthAuth is an OAuth application.
type OAuthAuth struct {
	// ClientID is the application's public client id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+$`
	ClientID string `json:"clientId"`
	// SecretRef names the Secret with keys clientSecret and refreshToken (required), accessToken
	// and expiresAt (RFC 3339), labelled b24ops.io/credentials: "true". The operator only
	// reads it: rotated tokens are kept in the Secret <portal>-b24ops-tokens, owned by the Portal.
	SecretRef LocalObjectReference `json:"secretRef"`
	// TokenURL overrides the OAuth server (self-hosted portals, tests).
	// Defaults to https://oauth.bitrix.info/oauth/token/.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	TokenURL *string `json:"tokenURL,omitempty"`
}

// PortalStatus is the observed state of a Portal.
type PortalStatus struct {
	CommonStatus `json:",inline"`
	// ApplicationKey is spec.url's host (with :port only when not 443) + "/" + clientId: the
	// unit of the bot limit. When the webhook identity is kept in the Secret it is host +
	// "/sha256:" + the first 16 hex digits of the identity's SHA-256, never the identity itself.
	// +optional
	ApplicationKey string `json:"applicationKey,omitempty"`
	// BoundBots is how many ChatBots are registered through this Portal.
	// +optional
	BoundBots int32 `json:"boundBots,omitempty"`
	// APIRevision is the portal's REST API revision (imbot.v2.Revision.get `rest`), read once
	// per resync; 0 when the portal has no imbot.v2.
	// +optional
	APIRevision int32 `json:"apiRevision,omitempty"`
	// V2Available says whether the portal has the imbot.v2 bot API (Chatbots 2.0); unset until
	// the first check. ChatBots without spec.api are registered through V2 when it is true.
	// +optional
	V2Available *bool `json:"v2Available,omitempty"`
	// VerifiedApplicationKey is the applicationKey whose credentials last passed the
	// authenticated check against spec.url (the portal answered the scope call made with
	// them and granted imbot; for OAuth, the application's installation is finished). Only a
	// Portal whose verifiedApplicationKey equals its applicationKey counts for the rules
	// across objects (bot limit, unique codes, one handler set, unique chat entities) and
	// tunes its portal's shared rate limiter: a Portal with made-up credentials disturbs no
	// one. A refusal of the credentials (AuthFailed, MissingScope, InvalidSpec, ...) clears
	// it; a transient failure (timeout, rate limit) keeps it. Written by the operator only.
	// +optional
	VerifiedApplicationKey string `json:"verifiedApplicationKey,omitempty"`
}

// Portal is one Bitrix24 application on one portal: URL, credentials and limits.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=b24portal,categories=b24ops
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Application",type=string,JSONPath=`.status.applicationKey`
// +kubebuilder:printcolumn:name="Bots",type=integer,JSONPath=`.status.boundBots`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type Portal struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PortalSpec `json:"spec"`
	// +kubebuilder:default={}
	Status PortalStatus `json:"status,omitempty"`
}

// PortalList is a list of Portals.
// +kubebuilder:object:root=true
type PortalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Portal `json:"items"`
}

func init() { SchemeBuilder.Register(&Portal{}, &PortalList{}) }
