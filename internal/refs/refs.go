// Package refs holds what the controllers and the webhook both derive from the API objects:
// application keys, resolved event handlers, chat entities, and the field indexes that find the
// objects referring to a Portal, ChatBot, Metabot, Secret or ConfigMap.
package refs

import (
	"net"
	"net/url"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Defaults that live in Go, not in the CRD (so GitOps tools see no drift).
const (
	DefaultMaxBots       = 5
	DefaultEntityType    = "B24OPS"
	DefaultMetabotURL    = "https://app.metabot24.com"
	DefaultOAuthTokenURL = "https://oauth.bitrix.info/oauth/token/"
	DefaultPortalRPS     = 2
	DefaultPortalBurst   = 50
	DefaultMetabotRPS    = 5
	DefaultMetabotBurst  = 10
	WebhookURLSecretKey  = "webhookURL"
	OAuthClientSecretKey = "clientSecret"
	OAuthRefreshTokenKey = "refreshToken"
	OAuthAccessTokenKey  = "accessToken"
	OAuthExpiresAtKey    = "expiresAt"
	DefaultIframeWidth   = 350
	DefaultIframeHeight  = 150
)

// PortalHost is spec.url's host, with :port only when the port is not 443.
func PortalHost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && p != "443" {
		return net.JoinHostPort(host, p)
	}
	return host
}

// ClientID is the Portal's application client id, whichever auth it uses.
func ClientID(p *b24v1.Portal) string {
	switch {
	case p.Spec.Auth.Webhook != nil:
		return p.Spec.Auth.Webhook.ClientID
	case p.Spec.Auth.OAuth != nil:
		return p.Spec.Auth.OAuth.ClientID
	}
	return ""
}

// ApplicationKey is host + "/" + clientId: the unit of the bot limit. Two Portals with the same
// key are the same Bitrix24 application.
func ApplicationKey(p *b24v1.Portal) string {
	return PortalHost(p.Spec.URL) + "/" + ClientID(p)
}

// MaxBots is spec.maxBots or the default.
func MaxBots(p *b24v1.Portal) int {
	if p.Spec.MaxBots != nil {
		return int(*p.Spec.MaxBots)
	}
	return DefaultMaxBots
}

// Handlers are a bot's resolved event handler URLs.
type Handlers struct {
	MessageAdd, WelcomeMessage, BotDelete, MessageUpdate, MessageDelete string
}

// ResolvedHandlers expands eventHandler into the per-event form, so two bots can be compared
// whichever form they use. Bitrix24 keeps one handler set per application.
func ResolvedHandlers(b *b24v1.ChatBot) Handlers {
	if h := b.Spec.EventHandler; h != nil {
		u := string(*h)
		return Handlers{u, u, u, u, u}
	}
	if hs := b.Spec.EventHandlers; hs != nil {
		out := Handlers{MessageAdd: string(hs.MessageAdd), WelcomeMessage: string(hs.WelcomeMessage), BotDelete: string(hs.BotDelete)}
		if hs.MessageUpdate != nil {
			out.MessageUpdate = string(*hs.MessageUpdate)
		}
		if hs.MessageDelete != nil {
			out.MessageDelete = string(*hs.MessageDelete)
		}
		return out
	}
	return Handlers{}
}

// Required are the handlers Bitrix24 requires to be the same for every bot of an application.
func (h Handlers) Required() [3]string { return [3]string{h.MessageAdd, h.WelcomeMessage, h.BotDelete} }

// ChatEntity is the chat's entity, defaulting to B24OPS and <namespace>/<name>.
func ChatEntity(c *b24v1.Chat) (entityType, entityID string) {
	if c.Spec.Entity != nil {
		return c.Spec.Entity.Type, c.Spec.Entity.ID
	}
	return DefaultEntityType, c.Namespace + "/" + c.Name
}

// Field index names, registered by the controllers on the manager's cache.
const (
	IndexPortalRef  = "spec.portalRef.name"
	IndexBotRef     = "spec.botRef.name"
	IndexMetabotRef = "spec.metabotRef.name"
	IndexSecrets    = "refs.secrets"
	IndexConfigMaps = "refs.configMaps"
)

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

// HoldsLimitBefore orders an application's ChatBots for the bot limit: by creation time, then
// namespace, then name. The first maxBots hold the limit; the controller and the webhook both
// decide by this order.
func HoldsLimitBefore(a, b *b24v1.ChatBot) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
