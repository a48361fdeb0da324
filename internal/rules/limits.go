package rules

import (
	"net"
	"net/url"
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
