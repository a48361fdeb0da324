package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BotCommandSpec declares one slash command of a bot (V1 imbot.command.*, V2
// imbot.v2.Command.*, whichever API the ChatBot uses).
// +kubebuilder:validation:XValidation:rule="(has(self.hidden) && self.hidden) || (has(self.translations) && size(self.translations) > 0)",message="translations must have at least one entry unless hidden is true",fieldPath=".translations"
type BotCommandSpec struct {
	// BotRef names the ChatBot the command belongs to; BOT_ID (botId) comes from its status.
	// Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="botRef is immutable"
	BotRef LocalObjectReference `json:"botRef"`

	// Command is the command users type, without the leading "/": lowercase letters, digits
	// and "_", at most 32 characters. V1 bots accept letters and digits only (imbot.command.*
	// refuses "_"). Unique per bot. Immutable.
	// +kubebuilder:validation:Pattern=`^[a-z0-9_]{1,32}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="command is immutable"
	Command string `json:"command"`

	// Common makes the command usable in every chat, not only in chats with the bot. Sent as
	// COMMON (V1) or common (V2). A V1 command cannot change it in place: the operator
	// unregisters the command and registers it again (its id changes). Defaults to false.
	// +optional
	Common *bool `json:"common,omitempty"`

	// Hidden keeps the command out of the command list shown to users; it still runs when
	// typed. Sent as HIDDEN / hidden. Defaults to false.
	// +optional
	Hidden *bool `json:"hidden,omitempty"`

	// ExtranetSupport makes the command available to extranet (external) users too. Sent as
	// EXTRANET_SUPPORT / extranetSupport. Defaults to false.
	// +optional
	ExtranetSupport *bool `json:"extranetSupport,omitempty"`

	// EventHandler is the URL Bitrix24 calls when a user runs the command (EVENT_COMMAND_ADD).
	// Required for commands of V1 bots, refused for V2 bots (they receive ONIMBOTV2COMMANDADD
	// through their own event mode). Bitrix24 keeps one command handler per application, and
	// every register or update re-binds it: every BotCommand of a V1 application must use the
	// same URL.
	// +optional
	EventHandler *HTTPSURL `json:"eventHandler,omitempty"`

	// Translations are the command's title and parameter hint per language, shown in the
	// command list; at least one unless hidden. Sent as LANG (V1) or title / params (V2). A
	// language removed here is removed remotely too.
	// +listType=map
	// +listMapKey=language
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Translations []CommandTranslation `json:"translations,omitempty"`

	// DeletionPolicy: Delete (unregister the command) or Orphan (leave it). Defaults to the
	// namespace's b24ops.io/default-deletion-policy annotation, else the manager's
	// --default-deletion-policy (Delete unless set).
	// +optional
	DeletionPolicy *DeletionPolicy `json:"deletionPolicy,omitempty"`

	// ManagementPolicy: Full (register, update and unregister the command) or ObserveOnly
	// (find it by its name with imbot.v2.Command.list, report it and whether it matches the
	// spec in the Synced condition, never write to Bitrix24, not even on deletion). Switching
	// to Full takes the command over in place. Defaults to Full.
	// +optional
	ManagementPolicy *ManagementPolicy `json:"managementPolicy,omitempty"`
}

// CommandTranslation is one language of a command.
type CommandTranslation struct {
	// Language is the two-letter language code, for example en, ru, de. Sent as LANGUAGE_ID
	// (V1) or as the key of title and params (V2).
	// +kubebuilder:validation:Pattern=`^[a-z]{2}$`
	Language string `json:"language"`
	// Title is what the command does, shown next to it in the command list. Sent as TITLE /
	// title.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Title string `json:"title"`
	// Params is the hint for the command's parameters, for example "[topic]". Sent as PARAMS /
	// params. Optional.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Params string `json:"params,omitempty"`
}

// BotCommandStatus is the observed state of a BotCommand.
type BotCommandStatus struct {
	CommonStatus `json:",inline"`
	// DeletionPolicy is the deletion policy in effect: spec.deletionPolicy, else the
	// namespace's b24ops.io/default-deletion-policy annotation, else the manager's
	// --default-deletion-policy (Delete unless set).
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// CommandID is the command's id on the portal (V1 has no list method: the id is kept here).
	// +optional
	CommandID int64 `json:"commandId,omitempty"`
	// BotID is the bot id the command is registered for. When the ChatBot is registered again
	// under a new id, the command is registered again for it.
	// +optional
	BotID int64 `json:"botId,omitempty"`
	// API is the bot API the command was registered through (V1 or V2).
	// +optional
	API BotAPI `json:"api,omitempty"`
	// Common is COMMON as last registered: a V1 command whose spec.common changes is
	// unregistered and registered again.
	// +optional
	Common bool `json:"common,omitempty"`
	// Languages are the translation languages last sent, so a language removed from the spec
	// can be removed remotely (only the portal's language can be read back).
	// +optional
	Languages []string `json:"languages,omitempty"`
	// AppliedHash is a hash of what was last sent; an update is sent only when it changes.
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`
}

// BotCommand is a slash command of a ChatBot.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=b24cmd,categories=b24ops
// +kubebuilder:selectablefield:JSONPath=`.spec.botRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Command ID",type=integer,JSONPath=`.status.commandId`
// +kubebuilder:printcolumn:name="Command",type=string,JSONPath=`.spec.command`
// +kubebuilder:printcolumn:name="Bot",type=string,JSONPath=`.spec.botRef.name`
// +kubebuilder:printcolumn:name="Bot ID",type=integer,priority=1,JSONPath=`.status.botId`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type BotCommand struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BotCommandSpec `json:"spec"`
	// +kubebuilder:default={}
	Status BotCommandStatus `json:"status,omitempty"`
}

// BotCommandList is a list of BotCommands.
// +kubebuilder:object:root=true
type BotCommandList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BotCommand `json:"items"`
}

func init() { SchemeBuilder.Register(&BotCommand{}, &BotCommandList{}) }

// V1CommandRule is the rule V1 bots add to spec.command: imbot.command.* accepts only Latin
// letters and digits.
const V1CommandRule = "a V1 bot's command may contain only letters and digits (imbot.command.register refuses \"_\")"

// ValidV1Command says a command name is accepted by imbot.command.register.
func ValidV1Command(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
