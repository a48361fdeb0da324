package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChatAppSpec declares a chat application (JS command or IFRAME) owned by a bot.
// +kubebuilder:validation:XValidation:rule="has(self.jsCommand) != has(self.iframe)",message="exactly one of jsCommand or iframe must be set"
// +kubebuilder:validation:XValidation:rule="(has(self.hidden) && self.hidden) || (has(self.translations) && size(self.translations) > 0)",message="translations must have at least one entry unless hidden is true",fieldPath=".translations"
// +kubebuilder:validation:XValidation:rule="!has(self.adopt) || !has(oldSelf.adopt) || self.adopt.id == oldSelf.adopt.id",message="adopt.id cannot change: it names the remote chat app this object took over; remove it, or create a new ChatApp for another app",fieldPath=".adopt.id"
type ChatAppSpec struct {
	// BotRef names the ChatBot that owns the app; BOT_ID comes from its status. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="botRef is immutable"
	BotRef LocalObjectReference `json:"botRef"`

	// Code is the app's CODE, unique per bot. Immutable.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="code is immutable"
	Code string `json:"code"`

	// JSCommand makes the app run a JS command (JS_METHOD, JS_PARAM).
	// +optional
	JSCommand *JSCommand `json:"jsCommand,omitempty"`

	// Iframe makes the app open a frame (IFRAME, IFRAME_WIDTH, IFRAME_HEIGHT, HASH, IFRAME_POPUP).
	// +optional
	Iframe *IframeApp `json:"iframe,omitempty"`

	// Icon is the app's icon: image bytes read from a ConfigMap key and sent base64-encoded as
	// ICON_FILE. Optional.
	// +optional
	Icon *ConfigMapSource `json:"icon,omitempty"`

	// Context is where the app shows: All, User (one-to-one chats), Chat (group chats), Bot
	// (chats with the bot), Lines (open channels) or Call. Sent as CONTEXT. Defaults to All.
	// +kubebuilder:validation:Enum=All;User;Chat;Bot;Lines;Call
	// +optional
	Context *string `json:"context,omitempty"`

	// AdminOnly appends -admin to CONTEXT: only administrators see the app. Defaults to false.
	// +optional
	AdminOnly *bool `json:"adminOnly,omitempty"`

	// Hidden keeps the app out of the chat's app panel; it can still be opened by its code.
	// Sent as HIDDEN (Y/N). Defaults to false.
	// +optional
	Hidden *bool `json:"hidden,omitempty"`

	// ExtranetSupport makes the app available to extranet (external) users too. Sent as
	// EXTRANET_SUPPORT (Y/N). Defaults to false.
	// +optional
	ExtranetSupport *bool `json:"extranetSupport,omitempty"`

	// LivechatSupport makes the app available in open channel (live chat) dialogs. Sent as
	// LIVECHAT_SUPPORT (Y/N). Defaults to false.
	// +optional
	LivechatSupport *bool `json:"livechatSupport,omitempty"`

	// Translations are the app's title and description per language, shown in the chat's app
	// panel; at least one unless hidden. Sent as LANG.
	// +listType=map
	// +listMapKey=language
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Translations []Translation `json:"translations,omitempty"`

	// DeletionPolicy: Delete (unregister the app) or Orphan (leave it). Defaults to
	// the namespace's b24ops.io/default-deletion-policy annotation, else the manager's
	// --default-deletion-policy (Delete unless set).
	// +optional
	DeletionPolicy *DeletionPolicy `json:"deletionPolicy,omitempty"`

	// ManagementPolicy: Full (create, update and delete the remote object) or ObserveOnly
	// (find it, report it and whether it matches the spec in the Synced condition, never
	// write to Bitrix24, not even on deletion). Switching to Full takes the remote object over
	// in place. Defaults to Full.
	// +optional
	ManagementPolicy *ManagementPolicy `json:"managementPolicy,omitempty"`

	// Adopt names the existing remote chat app (APP_ID) to observe or take over. Bitrix24 has
	// no method that lists or reads chat apps, so an ObserveOnly ChatApp needs it to find an
	// app the operator did not register; the app is taken on trust and, never having been
	// applied, reported as not known to match (Synced=False). Switching to Full applies the spec
	// to that app in place (imbot.app.update). CODE cannot be changed or read back: spec.code
	// must be the app's code, as the periodic existence check registers by bot and code.
	// Read while status.appId is not set; cannot change once set.
	// +optional
	Adopt *Adopt `json:"adopt,omitempty"`
}

// JSCommand is a JS command app.
// +kubebuilder:validation:XValidation:rule="!(self.method in ['Put', 'Send']) || self.param.matches('^[a-z0-9+_/-]+$')",message="jsCommand.param for Put and Send may only contain a-z 0-9 - + _ /",fieldPath=".param"
// +kubebuilder:validation:XValidation:rule="self.method != 'Support' || self.param.matches('^[A-Za-z0-9]{32}$')",message="jsCommand.param for Support must be the 32-character open channel code",fieldPath=".param"
// +kubebuilder:validation:XValidation:rule="self.method != 'Call' || self.param.matches('^[+]?[0-9][0-9 ()-]{1,30}$')",message="jsCommand.param for Call must be a phone number",fieldPath=".param"
type JSCommand struct {
	// Method is JS_METHOD: Put (PUT), Send (SEND), Call (CALL) or Support (SUPPORT).
	// +kubebuilder:validation:Enum=Put;Send;Call;Support
	Method string `json:"method"`
	// Param is JS_PARAM: for Put and Send only a-z 0-9 - + _ /; for Support the 32-character
	// open channel code; for Call a phone number.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Param string `json:"param"`
}

// IframeApp is an IFRAME app.
type IframeApp struct {
	// URL is the page the frame opens, https only. Sent as IFRAME.
	URL HTTPSURL `json:"url"`
	// Width is IFRAME_WIDTH in pixels, at least 250. Defaults to 350.
	// +kubebuilder:validation:Minimum=250
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Width *int32 `json:"width,omitempty"`
	// Height is IFRAME_HEIGHT in pixels, at least 50. Defaults to 150.
	// +kubebuilder:validation:Minimum=50
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Height *int32 `json:"height,omitempty"`
	// HashSecretRef selects the Secret key holding HASH, exactly 32 characters.
	HashSecretRef KeyReference `json:"hashSecretRef"`
	// Popup opens the frame in a popup window instead of inside the chat. Sent as IFRAME_POPUP
	// (Y/N). Defaults to false.
	// +optional
	Popup *bool `json:"popup,omitempty"`
}

// Translation is one LANG entry.
type Translation struct {
	// Language is the two-letter language code of this translation, for example en, ru, de.
	// Sent as LANGUAGE_ID.
	// +kubebuilder:validation:Pattern=`^[a-z]{2}$`
	Language string `json:"language"`
	// Title is the app's name in this language, shown in the app panel. Sent as TITLE.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Title string `json:"title"`
	// Description is the app's tooltip text in this language. Sent as DESCRIPTION. Optional.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`
	// Copyright is the author line shown with the app in this language. Sent as COPYRIGHT.
	// Optional.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Copyright string `json:"copyright,omitempty"`
}

// ChatAppStatus is the observed state of a ChatApp.
type ChatAppStatus struct {
	CommonStatus `json:",inline"`
	// DeletionPolicy is the deletion policy in effect: spec.deletionPolicy, else the
	// namespace's b24ops.io/default-deletion-policy annotation, else the manager's
	// --default-deletion-policy (Delete unless set).
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// AppID is the app's id on the portal.
	// +optional
	AppID int64 `json:"appId,omitempty"`
	// BotID is the bot id the app is registered for.
	// +optional
	BotID int64 `json:"botId,omitempty"`
	// AppliedHash is a hash of what was last sent (including icon and hash bytes).
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`
	// LastVerified is no longer written, and cleared at the app's next reconcile.
	// Deprecated: an existence check that finds nothing changed writes nothing; its
	// freshness is the metric b24ops_drift_check_oldest_age_seconds.
	// +optional
	LastVerified *metav1.Time `json:"lastVerified,omitempty"`
}

// ChatApp is a chat application (JS command or IFRAME) owned by a bot.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=b24app,categories=b24ops
// +kubebuilder:selectablefield:JSONPath=`.spec.botRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="App ID",type=integer,JSONPath=`.status.appId`
// +kubebuilder:printcolumn:name="Bot",type=string,JSONPath=`.spec.botRef.name`
// +kubebuilder:printcolumn:name="Bot ID",type=integer,priority=1,JSONPath=`.status.botId`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ChatApp struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ChatAppSpec `json:"spec"`
	// +kubebuilder:default={}
	Status ChatAppStatus `json:"status,omitempty"`
}

// ChatAppList is a list of ChatApps.
// +kubebuilder:object:root=true
type ChatAppList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChatApp `json:"items"`
}

func init() { SchemeBuilder.Register(&ChatApp{}, &ChatAppList{}) }
