// Package refs holds what the objects refer to: the Secrets and ConfigMaps each reads, the
// keys it reads in them, and the field indexes that find the objects referring to a Portal,
// ChatBot, Metabot, Secret or ConfigMap. The rules derived from the objects live in
// internal/rules.
package refs

import (
	"context"
	"reflect"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Keys of the Secrets the objects read.
const (
	WebhookURLSecretKey = "webhookURL"
	// WebhookClientIDSecretKey holds the webhook identity when spec.auth.webhook.clientId is
	// not set; WebhookPreviousClientIDSecretKey the one the V2 bots are rotated away from.
	WebhookClientIDSecretKey         = "clientId"
	WebhookPreviousClientIDSecretKey = "previousClientId"
	OAuthClientSecretKey             = "clientSecret"
	OAuthRefreshTokenKey             = "refreshToken"
	OAuthAccessTokenKey              = "accessToken"
	OAuthExpiresAtKey                = "expiresAt"
)

// CredentialsLabel, set to CredentialsLabelValue, marks a Secret the operator may read. A
// referenced Secret without it is not read (unless the manager runs with
// --require-secret-label=false), and only labelled Secrets are watched: being able to create a
// Portal, ChatApp or Metabot must not be a way to make the operator send any Secret of the
// namespace somewhere.
const (
	CredentialsLabel      = "b24ops.io/credentials"
	CredentialsLabelValue = "true"
)

// IsCredentials says whether a Secret carries the credentials label.
func IsCredentials(obj metav1.Object) bool {
	return obj.GetLabels()[CredentialsLabel] == CredentialsLabelValue
}

// Field index names, registered by the controllers and the webhook on the manager's cache
// (with Register, so that the one of them that comes second does not fail).
const (
	IndexPortalRef = "spec.portalRef.name"
	IndexCode      = "spec.code"
	// IndexChatEntity indexes Chats by entity type and id (rules.ChatEntityKey).
	IndexChatEntity = "spec.entity"
	IndexBotRef     = "spec.botRef.name"
	IndexMetabotRef = "spec.metabotRef.name"
	IndexSecrets    = "refs.secrets"
	IndexConfigMaps = "refs.configMaps"

	// Indexes of admission (internal/webhook): the cross-object rules find the few objects
	// they compare with through them instead of listing every object of a kind.

	// IndexApplication indexes Portals by application key (host/clientId).
	IndexApplication = "b24ops.io/application"
	// IndexBotID indexes ChatBots by the remote bot ids they adopt (spec.adopt.id) or manage
	// (status.botId).
	IndexBotID = "b24ops.io/botID"
	// IndexChatID indexes Chats by the remote chat ids they adopt (spec.adopt.id) or manage
	// (status.chatId).
	IndexChatID = "b24ops.io/chatID"
	// IndexRegisteredApplication indexes registered ChatBots (status.botId set) by the
	// application key recorded in status.
	IndexRegisteredApplication = "status.applicationKey"
)

// registered remembers the indexes registered on each indexer (a manager's cache).
var registered sync.Map

type registration struct {
	indexer client.FieldIndexer
	kind    reflect.Type
	field   string
}

// Register registers a field index on an indexer once: a second registration of the same
// field on the same kind and indexer is skipped (the first one's extract function stays; the
// callers share the index by its name, so they must mean the same by it).
func Register(ctx context.Context, idx client.FieldIndexer, obj client.Object, field string, extract client.IndexerFunc) error {
	key := registration{indexer: idx, kind: reflect.TypeOf(obj), field: field}
	if _, loaded := registered.LoadOrStore(key, true); loaded {
		return nil
	}
	if err := idx.IndexField(ctx, obj, field, extract); err != nil {
		registered.Delete(key)
		return err
	}
	return nil
}

// Secrets lists the Secrets an object reads.
func Secrets(obj client.Object) []string {
	switch o := obj.(type) {
	case *b24v1.Portal:
		switch {
		case o.Spec.Auth.Webhook != nil:
			return []string{o.Spec.Auth.Webhook.SecretRef.Name}
		case o.Spec.Auth.OAuth != nil:
			return []string{o.Spec.Auth.OAuth.SecretRef.Name}
		}
	case *b24v1.ChatApp:
		if o.Spec.Iframe != nil {
			return []string{o.Spec.Iframe.HashSecretRef.Name}
		}
	case *b24v1.Metabot:
		return []string{o.Spec.TokenSecretRef.Name}
	}
	return nil
}

// ConfigMaps lists the ConfigMaps an object reads.
func ConfigMaps(obj client.Object) []string {
	var src *b24v1.ConfigMapSource
	switch o := obj.(type) {
	case *b24v1.Portal:
		src = o.Spec.CABundle
	case *b24v1.ChatBot:
		src = o.Spec.Properties.Avatar
	case *b24v1.ChatApp:
		src = o.Spec.Icon
	case *b24v1.Chat:
		src = o.Spec.Avatar
	case *b24v1.Metabot:
		src = o.Spec.CABundle
	}
	if src == nil {
		return nil
	}
	return []string{src.ConfigMapKeyRef.Name}
}
