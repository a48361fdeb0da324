package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BotType is the kind of a bot.
// +kubebuilder:validation:Enum=Bot;OpenLine;Supervisor;Human;Network
type BotType string

// Bot types and their Bitrix24 TYPE letters (v1) and type names (v2).
const (
	BotTypeBot        BotType = "Bot"        // B, bot
	BotTypeOpenLine   BotType = "OpenLine"   // O, openline
	BotTypeSupervisor BotType = "Supervisor" // S, supervisor
	BotTypeHuman      BotType = "Human"      // H; V1 only
	BotTypeNetwork    BotType = "Network"    // network; V2 only
)

// BotAPI is the Bitrix24 API a bot is registered and managed through.
// +kubebuilder:validation:Enum=V1;V2
type BotAPI string

// The two bot APIs.
const (
	// BotAPIV1 is the frozen imbot.* API: the bot sends form-encoded ONIMBOT* events.
	BotAPIV1 BotAPI = "V1"
	// BotAPIV2 is imbot.v2.* (Chatbots 2.0): the bot sends JSON ONIMBOTV2* events to its
	// webhook or keeps them for the team's code to fetch.
	BotAPIV2 BotAPI = "V2"
)

// EventMode is how a V2 bot delivers its events.
// +kubebuilder:validation:Enum=Webhook;Fetch
type EventMode string

// The V2 event modes.
const (
	// EventModeWebhook POSTs each event as JSON to eventHandler (the bot's webhookUrl).
	EventModeWebhook EventMode = "Webhook"
	// EventModeFetch keeps the events until the team's own code polls them with
	// imbot.v2.Event.get. The operator never polls them.
	EventModeFetch EventMode = "Fetch"
)

// BotBackground is a V2 bot's chat background (backgroundId).
// +kubebuilder:validation:Enum=azure;mint;steel;slate;teal;cornflower;sky;peach;frost
type BotBackground string

// HTTPSURL is an absolute https URL.
// +kubebuilder:validation:MaxLength=2048
// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && size(url(self).getHostname()) > 0",message="must be an absolute https URL"
type HTTPSURL string

// ChatBotSpec declares a chat bot of a Portal's application.
//
// Fields that only one API has are refused at admission when spec.api names the other one.
// With spec.api unset, the controller chooses: V1 when the spec uses a V1-only field or the
// portal has no imbot.v2, V2 otherwise.
// +kubebuilder:validation:XValidation:rule="!(has(self.eventHandler) && has(self.eventHandlers))",message="at most one of eventHandler or eventHandlers may be set"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V1' || has(self.eventHandler) || has(self.eventHandlers) || (has(self.managementPolicy) && self.managementPolicy == 'ObserveOnly')",message="a V1 bot needs exactly one of eventHandler or eventHandlers (only an ObserveOnly bot may leave them out)"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V1' || !has(self.eventMode)",message="eventMode is V2 only: a V1 bot sends every event to its eventHandler(s)",fieldPath=".eventMode"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V2' || !has(self.eventHandlers)",message="eventHandlers is V1 only: a V2 bot has one eventHandler (its webhookUrl)",fieldPath=".eventHandlers"
// +kubebuilder:validation:XValidation:rule="!has(self.eventMode) || !has(self.eventHandlers)",message="eventHandlers is V1 only and eventMode V2 only: use eventHandler with eventMode",fieldPath=".eventHandlers"
// +kubebuilder:validation:XValidation:rule="!has(self.eventMode) || self.eventMode != 'Webhook' || has(self.eventHandler) || (has(self.managementPolicy) && self.managementPolicy == 'ObserveOnly')",message="eventMode Webhook needs eventHandler (the URL events are POSTed to; only an ObserveOnly bot may leave it out)",fieldPath=".eventHandler"
// +kubebuilder:validation:XValidation:rule="!has(self.eventMode) || self.eventMode != 'Fetch' || !has(self.eventHandler)",message="eventMode Fetch takes no eventHandler: the team's code polls imbot.v2.Event.get",fieldPath=".eventHandler"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V2' || !has(self.openline)",message="openline is V1 only: a V2 bot uses properties.supportOpenline",fieldPath=".openline"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V2' || !has(self.type) || self.type != 'Human'",message="type Human is V1 only",fieldPath=".type"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V1' || !has(self.type) || self.type != 'Network'",message="type Network is V2 only",fieldPath=".type"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V2' || (!has(self.properties.email) && !has(self.properties.birthday) && !has(self.properties.website))",message="properties.email, properties.birthday and properties.website are V1 only",fieldPath=".properties"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V2' || has(self.properties.name)",message="a V2 bot needs properties.name",fieldPath=".properties.name"
// +kubebuilder:validation:XValidation:rule="!has(self.api) || self.api != 'V1' || (!has(self.properties.background) && !has(self.properties.hidden) && !has(self.properties.reactions) && !has(self.properties.supportOpenline))",message="properties.background, properties.hidden, properties.reactions and properties.supportOpenline are V2 only",fieldPath=".properties"
// +kubebuilder:validation:XValidation:rule="(has(self.type) ? self.type : 'Bot') == (has(oldSelf.type) ? oldSelf.type : 'Bot')",message="type is immutable",fieldPath=".type"
// +kubebuilder:validation:XValidation:rule="!has(self.adopt) || !has(oldSelf.adopt) || self.adopt.id == oldSelf.adopt.id",message="adopt.id cannot change: it names the remote bot this object took over; remove it, or create a new ChatBot for another bot",fieldPath=".adopt.id"
type ChatBotSpec struct {
	// PortalRef names the Portal (application) the bot belongs to. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="portalRef is immutable"
	PortalRef LocalObjectReference `json:"portalRef"`

	// Code is the bot's CODE, unique on the portal. Immutable.
	// +kubebuilder:validation:Pattern=`^[a-z0-9_-]{1,64}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="code is immutable"
	Code string `json:"code"`

	// API is the Bitrix24 bot API the bot is registered with: V1 (imbot.*, form-encoded
	// ONIMBOT* events) or V2 (imbot.v2.*, JSON ONIMBOTV2* events, webhook or fetch). Defaults
	// to V2 when the portal has imbot.v2 and the spec uses no V1-only field, else V1 (the Ready
	// message says why). The API in use is recorded in status.api; a bot registered before
	// this field existed stays V1. It cannot change once the bot is registered: to move a bot
	// to V2, create a new ChatBot with another code and delete the old one. An explicit V2 on
	// a portal without imbot.v2 gives Ready=False.
	// +optional
	API *BotAPI `json:"api,omitempty"`

	// EventMode is how a V2 bot delivers its events: Webhook (POSTed as JSON to eventHandler)
	// or Fetch (kept until the team's own code polls imbot.v2.Event.get; no eventHandler).
	// V2 only. Defaults to Webhook when eventHandler is set, Fetch otherwise.
	// +optional
	EventMode *EventMode `json:"eventMode,omitempty"`

	// Type is the bot's type: Bot (B / bot), OpenLine (O / openline), Supervisor (S /
	// supervisor), Human (H, V1 only) or Network (network, V2 only). Immutable. Defaults to
	// Bot.
	// +optional
	Type *BotType `json:"type,omitempty"`

	// Openline is OPENLINE (Y/N): the bot works in open channels. Always true for OpenLine bots.
	// V1 only (a V2 bot uses properties.supportOpenline). Defaults to false.
	// +optional
	Openline *bool `json:"openline,omitempty"`

	// EventHandler is one URL for every event: V1 EVENT_HANDLER, V2 webhookUrl. A V1 bot
	// needs exactly one of eventHandler and eventHandlers, and Bitrix24 keeps one V1 handler
	// set per application: every V1 ChatBot of a Portal must resolve to the same URLs. A V2
	// bot has its own webhookUrl; without eventHandler it runs in Fetch mode.
	// +optional
	EventHandler *HTTPSURL `json:"eventHandler,omitempty"`

	// EventHandlers sets a URL per event. V1 only.
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

	// Adopt names the existing remote bot to observe or take over by its id (BOT_ID), instead
	// of finding it by code. The bot with that id must have spec.code as its CODE (a code
	// cannot change); otherwise the ChatBot stalls with InvalidSpec. Read while status.botId
	// is not set; cannot change once set.
	// +optional
	Adopt *Adopt `json:"adopt,omitempty"`
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
	// Email is the contact e-mail shown in the bot's profile. Sent as PROPERTIES.EMAIL. V1
	// only.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	// +optional
	Email *string `json:"email,omitempty"`
	// Birthday is the birthday shown in the bot's profile, YYYY-MM-DD. Sent as
	// PROPERTIES.PERSONAL_BIRTHDAY. V1 only.
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`
	// +optional
	Birthday *string `json:"birthday,omitempty"`
	// WorkPosition is the job title shown under the bot's name. Sent as
	// PROPERTIES.WORK_POSITION.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	WorkPosition *string `json:"workPosition,omitempty"`
	// Website is the web site shown in the bot's profile. Sent as PROPERTIES.PERSONAL_WWW. V1
	// only.
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
	// Background is the chat background of a V2 bot (backgroundId). V2 only. Defaults to the
	// user's own background.
	// +optional
	Background *BotBackground `json:"background,omitempty"`
	// Hidden hides a V2 bot from the bot lists (isHidden). V2 only. Defaults to false.
	// +optional
	Hidden *bool `json:"hidden,omitempty"`
	// Reactions lets users react to a V2 bot's messages (isReactionsEnabled). V2 only.
	// Defaults to true.
	// +optional
	Reactions *bool `json:"reactions,omitempty"`
	// SupportOpenline lets a V2 bot work in open channels (isSupportOpenline). V2 only.
	// Defaults to false.
	// +optional
	SupportOpenline *bool `json:"supportOpenline,omitempty"`
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
	// API is the bot API the bot is registered with (V1 or V2). A bot keeps it.
	// +optional
	API BotAPI `json:"api,omitempty"`
	// EventMode is how a V2 bot delivers its events (Webhook or Fetch), as last applied.
	// +optional
	EventMode EventMode `json:"eventMode,omitempty"`
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
// +kubebuilder:printcolumn:name="API",type=string,priority=1,JSONPath=`.status.api`
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

// V1OnlyFields names the spec fields set on b that only the V1 API has, in a stable order.
func (b *ChatBot) V1OnlyFields() []string {
	s, pr := b.Spec, b.Spec.Properties
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"eventHandlers", s.EventHandlers != nil},
		{"openline", s.Openline != nil},
		{"type Human", s.Type != nil && *s.Type == BotTypeHuman},
		{"properties.email", pr.Email != nil},
		{"properties.birthday", pr.Birthday != nil},
		{"properties.website", pr.Website != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// V2OnlyFields names the spec fields set on b that only the V2 API has, in a stable order.
func (b *ChatBot) V2OnlyFields() []string {
	s, pr := b.Spec, b.Spec.Properties
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"eventMode", s.EventMode != nil},
		{"type Network", s.Type != nil && *s.Type == BotTypeNetwork},
		{"properties.background", pr.Background != nil},
		{"properties.hidden", pr.Hidden != nil},
		{"properties.reactions", pr.Reactions != nil},
		{"properties.supportOpenline", pr.SupportOpenline != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// KnownAPI is the API b is known to use without asking the portal: status.api once
// recorded, V1 for a bot registered before spec.api existed, else spec.api, else what the
// spec's API-specific fields imply. Empty when it depends on the portal.
func (b *ChatBot) KnownAPI() BotAPI {
	switch {
	case b.Status.API != "":
		return b.Status.API
	case b.Status.BotID != 0:
		return BotAPIV1
	case b.Spec.API != nil:
		return *b.Spec.API
	case len(b.V1OnlyFields()) > 0:
		return BotAPIV1
	case len(b.V2OnlyFields()) > 0:
		return BotAPIV2
	}
	return ""
}
