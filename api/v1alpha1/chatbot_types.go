package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BotType is the kind of a bot.
// +kubebuilder:validation:Enum=Bot;OpenLine;Supervisor;Human
type BotType string

// Bot types and their Bitrix24 TYPE letters.
const (
	BotTypeBot        BotType = "Bot"        // B
	BotTypeOpenLine   BotType = "OpenLine"   // O
	BotTypeSupervisor BotType = "Supervisor" // S
	BotTypeHuman      BotType = "Human"      // H
)

// HTTPSURL is an absolute https URL.
// +kubebuilder:validation:MaxLength=2048
// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && size(url(self).getHostname()) > 0",message="must be an absolute https URL"
type HTTPSURL string

// ChatBotSpec declares a chat bot of a Portal's application.
// +kubebuilder:validation:XValidation:rule="has(self.eventHandler) != has(self.eventHandlers)",message="exactly one of eventHandler or eventHandlers must be set"
// +kubebuilder:validation:XValidation:rule="(has(self.type) ? self.type : 'Bot') == (has(oldSelf.type) ? oldSelf.type : 'Bot')",message="type is immutable",fieldPath=".type"
type ChatBotSpec struct {
	// PortalRef names the Portal (application) the bot belongs to. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="portalRef is immutable"
	PortalRef LocalObjectReference `json:"portalRef"`

	// Code is the bot's CODE, unique on the portal. Immutable.
	// +kubebuilder:validation:Pattern=`^[a-z0-9_-]{1,64}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="code is immutable"
	Code string `json:"code"`

	// Type is the bot's TYPE: Bot (B), OpenLine (O), Supervisor (S) or Human (H). Immutable.
	// Defaults to Bot.
	// +optional
	Type *BotType `json:"type,omitempty"`

	// Openline is OPENLINE (Y/N): the bot works in open channels. Always true for OpenLine bots.
	// Defaults to false.
	// +optional
	Openline *bool `json:"openline,omitempty"`

	// EventHandler is EVENT_HANDLER: one URL for every event. Exactly one of eventHandler and
	// eventHandlers. Bitrix24 keeps one handler set per application: every ChatBot of a
	// Portal must resolve to the same URLs.
	// +optional
	EventHandler *HTTPSURL `json:"eventHandler,omitempty"`

	// EventHandlers sets a URL per event.
	// +optional
	EventHandlers *EventHandlers `json:"eventHandlers,omitempty"`

	// Properties are the bot's PROPERTIES.
	Properties BotProperties `json:"properties"`

	// DeletionPolicy: Delete (unregister the bot) or Orphan (leave it). Defaults to
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
}

// EventHandlers sets one URL per event.
type EventHandlers struct {
	// MessageAdd is the URL Bitrix24 calls for each new message to the bot. Sent as
	// EVENT_MESSAGE_ADD.
	MessageAdd HTTPSURL `json:"messageAdd"`
	// WelcomeMessage is the URL Bitrix24 calls when the bot is added to a chat or a user opens
	// a chat with it. Sent as EVENT_WELCOME_MESSAGE.
	WelcomeMessage HTTPSURL `json:"welcomeMessage"`
	// BotDelete is the URL Bitrix24 calls when the bot is deleted on the portal. Sent as
	// EVENT_BOT_DELETE.
	BotDelete HTTPSURL `json:"botDelete"`
	// MessageUpdate is EVENT_MESSAGE_UPDATE; Bitrix24 uses it only for Supervisor and OpenLine
	// bots and bots with openline.
	// +optional
	MessageUpdate *HTTPSURL `json:"messageUpdate,omitempty"`
	// MessageDelete is EVENT_MESSAGE_DELETE; used like messageUpdate.
	// +optional
	MessageDelete *HTTPSURL `json:"messageDelete,omitempty"`
}

// BotProperties are the bot's PROPERTIES.
// +kubebuilder:validation:XValidation:rule="has(self.name) || has(self.lastName)",message="at least one of properties.name or properties.lastName must be set"
type BotProperties struct {
	// Name is the bot's first name, shown in chats. Sent as PROPERTIES.NAME. Either name or
	// lastName is required.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +optional
	Name *string `json:"name,omitempty"`
	// LastName is the bot's last name, shown after name. Sent as PROPERTIES.LAST_NAME.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +optional
	LastName *string `json:"lastName,omitempty"`
	// Color is the color of the bot's avatar placeholder and name. Sent as PROPERTIES.COLOR.
	// +optional
	Color *Color `json:"color,omitempty"`
	// Email is the contact e-mail shown in the bot's profile. Sent as PROPERTIES.EMAIL.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	// +optional
	Email *string `json:"email,omitempty"`
	// Birthday is the birthday shown in the bot's profile, YYYY-MM-DD. Sent as
	// PROPERTIES.PERSONAL_BIRTHDAY.
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`
	// +optional
	Birthday *string `json:"birthday,omitempty"`
	// WorkPosition is the job title shown under the bot's name. Sent as
	// PROPERTIES.WORK_POSITION.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	WorkPosition *string `json:"workPosition,omitempty"`
	// Website is the web site shown in the bot's profile. Sent as PROPERTIES.PERSONAL_WWW.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="website must be an absolute URL"
	// +optional
	Website *string `json:"website,omitempty"`
	// Gender is PERSONAL_GENDER: M or F.
	// +kubebuilder:validation:Enum=M;F
	// +optional
	Gender *string `json:"gender,omitempty"`
	// Avatar is PERSONAL_PHOTO: image bytes read from a ConfigMap (binaryData or data) and sent
	// base64-encoded.
	// +optional
	Avatar *ConfigMapSource `json:"avatar,omitempty"`
}

// ChatBotStatus is the observed state of a ChatBot.
type ChatBotStatus struct {
	CommonStatus `json:",inline"`
	// DeletionPolicy is the deletion policy in effect: spec.deletionPolicy, else the
	// namespace's b24ops.io/default-deletion-policy annotation, else the manager's
	// --default-deletion-policy (Delete unless set).
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// BotID is the bot's id on the portal.
	// +optional
	BotID int64 `json:"botId,omitempty"`
	// ApplicationKey is the Portal's application key the bot is registered in.
	// +optional
	ApplicationKey string `json:"applicationKey,omitempty"`
	// AppliedHash is a hash of what was last sent to Bitrix24 (including avatar bytes); an
	// update is sent only when it changes.
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`
}

// ChatBot is a chat bot of a Portal's application.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=b24bot,categories=b24ops
// +kubebuilder:selectablefield:JSONPath=`.spec.portalRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Bot ID",type=integer,JSONPath=`.status.botId`
// +kubebuilder:printcolumn:name="Code",type=string,JSONPath=`.spec.code`
// +kubebuilder:printcolumn:name="Portal",type=string,JSONPath=`.spec.portalRef.name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ChatBot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ChatBotSpec `json:"spec"`
	// +kubebuilder:default={}
	Status ChatBotStatus `json:"status,omitempty"`
}

// ChatBotList is a list of ChatBots.
// +kubebuilder:object:root=true
type ChatBotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChatBot `json:"items"`
}

func init() { SchemeBuilder.Register(&ChatBot{}, &ChatBotList{}) }
