package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/url"
	"sort"
	"strings"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
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
// key are the same Bitrix24 application. A webhook Portal whose identity is kept in its Secret
// has the key its controller recorded in status (IdentityKey with secret), "" until then.
func ApplicationKey(p *b24v1.Portal) string {
	if IdentityInSecret(p) {
		return p.Status.ApplicationKey
	}
	return PortalHost(p.Spec.URL) + "/" + ClientID(p)
}

// Verified says the Portal's credentials passed the authenticated check for the application
// it declares now (status.verifiedApplicationKey). Only verified Portals count for the rules
// across objects: anyone may declare a host and client id, and a Portal with made-up
// credentials must not use up another team's bot limit or squat its codes.
func Verified(p *b24v1.Portal) bool {
	return p != nil && p.Status.VerifiedApplicationKey != "" && p.Status.VerifiedApplicationKey == ApplicationKey(p)
}

// IdentityInSecret says the Portal's webhook identity is the key clientId of its Secret.
func IdentityInSecret(p *b24v1.Portal) bool {
	return p.Spec.Auth.Webhook != nil && p.Spec.Auth.Webhook.ClientID == ""
}

// IdentityKey is the application key of a webhook identity on a portal: host + "/" + clientID,
// or, for an identity kept in a Secret (which must appear nowhere in clear), host +
// "/sha256:" + the first 16 hex digits of its SHA-256.
func IdentityKey(portalURL, clientID string, secret bool) string {
	if secret {
		sum := sha256.Sum256([]byte(clientID))
		return PortalHost(portalURL) + "/sha256:" + hex.EncodeToString(sum[:8])
	}
	return PortalHost(portalURL) + "/" + clientID
}

// KeyOfIdentity says whether an application key recorded earlier (status.applicationKey)
// names the webhook identity clientID on the portal, in either form of IdentityKey.
func KeyOfIdentity(key, portalURL, clientID string) bool {
	return clientID != "" && (key == IdentityKey(portalURL, clientID, false) || key == IdentityKey(portalURL, clientID, true))
}

// MaxBots is spec.maxBots or the default.
func MaxBots(p *b24v1.Portal) int {
	if p.Spec.MaxBots != nil {
		return int(*p.Spec.MaxBots)
	}
	return DefaultMaxBots
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

// HoldsPlace reports whether a ChatBot takes one of its application's places: every bot does,
// except one being deleted that never got a remote bot (its deletion frees nothing remotely,
// so it already holds nothing). A bot being deleted that still has a remote bot counts until
// imbot.unregister has succeeded.
func HoldsPlace(b *b24v1.ChatBot) bool {
	return b.DeletionTimestamp == nil || b.Status.BotID != 0
}

// ApplicationOf is the application a ChatBot holds a place in: its Portal's (portal, nil when
// the Portal is gone) when that Portal is Verified, or else the key recorded in status when
// the bot was registered: a bot left registered still holds a place. Empty when it holds none
// (a bot of an unverified Portal that was never registered).
func ApplicationOf(b *b24v1.ChatBot, portal *b24v1.Portal) string {
	if Verified(portal) {
		return ApplicationKey(portal)
	}
	if b.Status.BotID != 0 {
		return b.Status.ApplicationKey
	}
	return ""
}

// DeclaredApplicationOf is the application a ChatBot asks for: its Portal's, verified or not,
// or else ApplicationOf. The rules are checked for the object at hand against this, and
// against ApplicationOf for every other object.
func DeclaredApplicationOf(b *b24v1.ChatBot, portal *b24v1.Portal) string {
	if portal != nil {
		return ApplicationKey(portal)
	}
	return ApplicationOf(b, nil)
}

// HostOfApplication is the portal host of an application key ("" for "").
func HostOfApplication(app string) string {
	host, _, _ := strings.Cut(app, "/")
	return host
}

// LimitHolders lists the ChatBots holding a place in application app, in the order that
// decides who holds the limit (HoldsLimitBefore): the first MaxBots of them may be
// registered. portalOf returns a bot's Portal, or nil. The webhook and the controller both
// decide by it.
func LimitHolders(app string, bots []*b24v1.ChatBot, portalOf func(*b24v1.ChatBot) *b24v1.Portal) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	for _, b := range bots {
		if HoldsPlace(b) && ApplicationOf(b, portalOf(b)) == app {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return HoldsLimitBefore(out[i], out[j]) })
	return out
}
