package webhook_test

import (
	"context"
	"strings"
	"testing"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

func TestPortalUpdate(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// bots are the ChatBots using the Portal before the change.
		bots   []string
		change func(p *b24v1.Portal, a *app)
		// want is what the refusal must say, given the app (nil: admitted).
		want func(a *app) []string
	}{
		{
			name:   "changing the url while ChatBots use the Portal is refused, naming them",
			bots:   []string{"support", "sales"},
			change: func(p *b24v1.Portal, a *app) { p.Spec.URL = "https://moved-" + a.host },
			want: func(a *app) []string {
				return []string{"spec.url", "from application " + a.key + " to moved-" + a.key, a.ns1 + "/support", a.ns1 + "/sales", "delete them first"}
			},
		},
		{
			name:   "changing the client id while ChatBots use the Portal is refused",
			bots:   []string{"support"},
			change: func(p *b24v1.Portal, _ *app) { p.Spec.Auth.Webhook.ClientID = "other" },
			want: func(a *app) []string {
				return []string{"spec.auth.webhook.clientId", "to " + a.host + "/other", a.ns1 + "/support"}
			},
		},
		{
			name:   "a new client id is admitted while only V2 bots use the Portal: the controller rotates them",
			bots:   []string{"v2:support", "v2:sales"},
			change: func(p *b24v1.Portal, _ *app) { p.Spec.Auth.Webhook.ClientID = "rotated" },
		},
		{
			name:   "a new client id is refused while a V1 bot uses the Portal, naming it",
			bots:   []string{"v2:support", "legacy"},
			change: func(p *b24v1.Portal, _ *app) { p.Spec.Auth.Webhook.ClientID = "rotated" },
			want: func(a *app) []string {
				return []string{"spec.auth.webhook.clientId", "V1 bots", a.ns1 + "/legacy"}
			},
		},
		{
			name:   "a new client id over 40 characters is refused while V2 bots use the Portal",
			bots:   []string{"v2:support"},
			change: func(p *b24v1.Portal, _ *app) { p.Spec.Auth.Webhook.ClientID = strings.Repeat("t", 41) },
			want:   func(a *app) []string { return []string{"spec.auth.webhook.clientId", "at most 40 characters"} },
		},
		{
			name: "switching to OAuth with another client id is refused",
			bots: []string{"support"},
			change: func(p *b24v1.Portal, _ *app) {
				p.Spec.Auth = b24v1.PortalAuth{OAuth: &b24v1.OAuthAuth{ClientID: "local.abc", SecretRef: b24v1.LocalObjectReference{Name: "oauth"}}}
			},
			want: func(a *app) []string { return []string{"spec.auth.oauth.clientId", a.host + "/local.abc"} },
		},
		{
			name: "switching to OAuth with the same client id keeps the application",
			bots: []string{"support"},
			change: func(p *b24v1.Portal, _ *app) {
				p.Spec.Auth = b24v1.PortalAuth{OAuth: &b24v1.OAuthAuth{ClientID: "bots", SecretRef: b24v1.LocalObjectReference{Name: "oauth"}}}
			},
		},
		{
			name:   "another spelling of the same host keeps the application",
			bots:   []string{"support"},
			change: func(p *b24v1.Portal, a *app) { p.Spec.URL = "https://" + upper(a.host) + ":443/" },
		},
		{
			name:   "other fields change freely while ChatBots use the Portal",
			bots:   []string{"support"},
			change: func(p *b24v1.Portal, _ *app) { n := int32(10); p.Spec.MaxBots = &n },
		},
		{
			name:   "the application of a Portal without ChatBots changes freely",
			change: func(p *b24v1.Portal, a *app) { p.Spec.URL = "https://moved-" + a.host },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t)
			p := portal(a.ns1, "acme", a.url(), "bots", 0)
			mustCreate(t, p)
			for _, n := range tc.bots {
				if name, ok := strings.CutPrefix(n, "v2:"); ok {
					mustCreate(t, botV2(a.ns1, name, "acme", name, hookA))
					continue
				}
				mustCreate(t, bot(a.ns1, n, "acme", n, hookA))
			}
			tc.change(p, a)
			var want []string
			if tc.want != nil {
				want = tc.want(a)
			}
			expect(t, env.Client.Update(ctx, p), want)
		})
	}
}

// A Portal whose only bot is being deleted without ever having been registered holds nothing.
func TestPortalUpdateIgnoresUnregisteredBotsBeingDeleted(t *testing.T) {
	a := newApp(t)
	p := portal(a.ns1, "acme", a.url(), "bots", 0)
	b := bot(a.ns1, "support", "acme", "support", hookA)
	b.Finalizers = []string{heldFinalizer}
	mustCreate(t, p, b)
	deleteHeld(t, b)
	p.Spec.URL = "https://moved-" + a.host
	expect(t, env.Client.Update(context.Background(), p), nil)
}
