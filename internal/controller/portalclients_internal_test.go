package controller

import (
	"testing"

	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/rules"
)

// TestSharedLimiterIsTunedOnlyByVerifiedPortals pins that a Portal with made-up credentials
// cannot retune the rate limiter every application on its portal host shares: it joins the
// bucket as it is, and only a Portal whose credentials passed the auth check sets its rate.
func TestSharedLimiterIsTunedOnlyByVerifiedPortals(t *testing.T) {
	portal := func(ns, host string, rps, burst int32, verified bool) *b24v1.Portal {
		p := &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"}, Spec: b24v1.PortalSpec{
			URL:       "https://" + host,
			Auth:      b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: "app"}},
			RateLimit: &b24v1.RateLimit{RequestsPerSecond: rps, Burst: burst},
		}}
		if verified {
			p.Status.VerifiedApplicationKey = rules.ApplicationKey(p)
		}
		return p
	}
	tuned := func(rps float64, burst int) (rate.Limit, int) {
		l := bitrix.NewLimiter(rps, burst)
		return l.Limit(), l.Burst()
	}
	check := func(t *testing.T, l *rate.Limiter, rps float64, burst int) {
		t.Helper()
		if wl, wb := tuned(rps, burst); l.Limit() != wl || l.Burst() != wb {
			t.Errorf("limiter at %v/%d, want %v/%d", l.Limit(), l.Burst(), wl, wb)
		}
	}

	t.Run("an unverified Portal joins the bucket a verified one tuned, as it is", func(t *testing.T) {
		var p Portals
		shared := p.limiterFor(portal("team-a", "acme.bitrix24.ru", 5, 250, true))
		check(t, shared, 5, 250)
		if got := p.limiterFor(portal("team-b", "acme.bitrix24.ru", 1, 1, false)); got != shared {
			t.Fatal("the unverified Portal got a bucket of its own")
		}
		check(t, shared, 5, 250)
	})
	t.Run("an unverified Portal first on a host starts the bucket no looser than the defaults", func(t *testing.T) {
		var p Portals
		check(t, p.limiterFor(portal("team-b", "fresh.bitrix24.ru", 50, 500, false)), bitrix.DefaultRequestsPerSecond, bitrix.DefaultBurst)
		var q Portals
		check(t, q.limiterFor(portal("team-b", "fresh.bitrix24.ru", 1, 5, false)), 1, 5)
	})
	t.Run("a Portal verified for another application than it declares is not verified", func(t *testing.T) {
		var p Portals
		shared := p.limiterFor(portal("team-a", "acme.bitrix24.ru", 5, 250, true))
		stale := portal("team-b", "acme.bitrix24.ru", 1, 1, false)
		stale.Status.VerifiedApplicationKey = "acme.bitrix24.ru/another"
		p.limiterFor(stale)
		check(t, shared, 5, 250)
	})
	t.Run("passing the auth check tunes the bucket to the Portal's rateLimit", func(t *testing.T) {
		var p Portals
		pt := portal("team-a", "acme.bitrix24.ru", 3, 30, false)
		shared := p.limiterFor(pt)
		c, err := bitrix.New(bitrix.WithLimiter(shared), bitrix.WithWebhook("https://acme.bitrix24.ru/rest/1/code/", "app"))
		if err != nil {
			t.Fatal(err)
		}
		p.clients = map[client.ObjectKey]*portalClient{client.ObjectKeyFromObject(pt): {client: c}}
		p.markAuthChecked(pt, c)
		check(t, shared, 3, 30)
	})
}
