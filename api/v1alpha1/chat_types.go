package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChatSpec declares a group chat created on behalf of a bot.
// +kubebuilder:validation:XValidation:rule="(has(self.type) ? self.type : 'Chat') == (has(oldSelf.type) ? oldSelf.type : 'Chat')",message="type is immutable",fieldPath=".type"
// +kubebuilder:validation:XValidation:rule="has(self.entity) == has(oldSelf.entity)",message="entity is immutable",fieldPath=".entity"
// +kubebuilder:validation:XValidation:rule="!has(self.adopt) || !has(oldSelf.adopt) || self.adopt.id == oldSelf.adopt.id",message="adopt.id cannot change: it names the remote chat this object took over; remove it, or create a new Chat for another chat",fieldPath=".adopt.id"
type ChatSpec struct {
	// BotRef names the ChatBot on whose behalf the chat is created. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="botRef is immutable"
	BotRef LocalObjectReference `json:"botRef"`

	// Type is TYPE: Chat (CHAT) or Open (OPEN). Immutable. Defaults to Chat.
	// +kubebuilder:validation:Enum=Chat;Open
	// +optional
	Type *string `json:"type,omitempty"`

	// Title is the chat's name. Sent as TITLE; changes are applied (imbot.chat.updateTitle).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Title *string `json:"title,omitempty"`

	// Description is DESCRIPTION, set at creation.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Description *string `json:"description,omitempty"`

	// Color is the chat's avatar color. Sent as COLOR; changes are applied
	// (imbot.chat.updateColor).
	// +optional
	Color *Color `json:"color,omitempty"`

	// WelcomeMessage is MESSAGE, sent once at creation.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	WelcomeMessage *string `json:"welcomeMessage,omitempty"`

	// Users are USERS: member user ids besides the bot, kept in sync (added and removed). The bot
	// itself and the owner are never removed.
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:Minimum=1
	// +optional
	Users []int64 `json:"users,omitempty"`

	// OwnerID is the user id of the chat's owner. Sent as OWNER_ID; changes are applied
	// (imbot.chat.setOwner). Defaults to the bot.
	// +kubebuilder:validation:Minimum=1
	// +optional
	OwnerID *int64 `json:"ownerId,omitempty"`

	// Avatar is AVATAR: image bytes read from a ConfigMap, sent base64-encoded.
	// +optional
	Avatar *ConfigMapSource `json:"avatar,omitempty"`

	// Entity is ENTITY_TYPE / ENTITY_ID: the key used to find the chat again. Immutable.
	// Defaults to type B24OPS and id <namespace>/<name>.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="entity is immutable"
	// +optional
	Entity *ChatEntity `json:"entity,omitempty"`

	// DeletionPolicy: Delete (the bot leaves the chat, handing ownership to ownerId, else to the
	// first of users, when it owns it) or Orphan (leave it). Defaults to
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

	// Adopt names the existing remote chat to observe or take over by its id, when the entity is
	// not enough to find it.
	// +optional
	Adopt *Adopt `json:"adopt,omitempty"`
}

// ChatEntity is the ENTITY_TYPE / ENTITY_ID pair.
type ChatEntity struct {
	// Type is the entity type the chat is bound to, for example B24OPS or a CRM entity. Sent
	// as ENTITY_TYPE.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=50
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+$`
	Type string `json:"type"`
	// ID is the entity's id within its type, unique per portal. Sent as ENTITY_ID.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	ID string `json:"id"`
}

// ChatStatus is the observed state of a Chat.
type ChatStatus struct {
	CommonStatus `json:",inline"`
	// DeletionPolicy is the deletion policy in effect: spec.deletionPolicy, else the
	// namespace's b24ops.io/default-deletion-policy annotation, else the manager's
	// --default-deletion-policy (Delete unless set).
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// ChatID is the chat's id on the portal.
	// +optional
	ChatID int64 `json:"chatId,omitempty"`
	// BotID is the bot the chat was created by.
	// +optional
	BotID int64 `json:"botId,omitempty"`
	// AvatarHash is a hash of the avatar bytes last sent.
	// +optional
	AvatarHash string `json:"avatarHash,omitempty"`
	// LastVerified is no longer written, and cleared at the chat's next reconcile.
	// Deprecated: a drift check that finds nothing changed writes nothing; its freshness is
	// the metric b24ops_drift_check_oldest_age_seconds.
	// +optional
	LastVerified *metav1.Time `json:"lastVerified,omitempty"`
}

// Chat is a group chat created on behalf of a bot.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=b24chat,categories=b24ops
// +kubebuilder:selectablefield:JSONPath=`.spec.botRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Chat ID",type=integer,JSONPath=`.status.chatId`
// +kubebuilder:printcolumn:name="Bot",type=string,JSONPath=`.spec.botRef.name`
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type Chat struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ChatSpec `json:"spec"`
	// +kubebuilder:default={}
	Status ChatStatus `json:"status,omitempty"`
}

// ChatList is a list of Chats.
// +kubebuilder:object:root=true
type ChatList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Chat `json:"items"`
}

func init() { SchemeBuilder.Register(&Chat{}, &ChatList{}) }
