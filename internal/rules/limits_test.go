package rules_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
)

func TestLimitHolders(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	portal := func(name, clientID string) *b24v1.Portal { return verifiedPortal("a", name, clientID) }
	bot := func(ns, name, portal string, created int, mods ...func(*b24v1.ChatBot)) *b24v1.ChatBot {
		b := &b24v1.ChatBot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(created) * time.Second))}}
		b.Spec.PortalRef.Name = portal
		for _, m := range mods {
			m(b)
		}
		return b
	}
	deleting := func(b *b24v1.ChatBot) { b.DeletionTimestamp = &metav1.Time{Time: t0} }
	registered := func(key string) func(*b24v1.ChatBot) {
		return func(b *b24v1.ChatBot) { b.Status.BotID, b.Status.ApplicationKey = 7, key }
	}
	observed := func(b *b24v1.ChatBot) {
		p := b24v1.ManagementPolicyObserveOnly
		b.Spec.ManagementPolicy = &p
	}
	unverified := portal("unverified", "app")
	unverified.Status.VerifiedApplicationKey = ""
	stale := portal("stale", "app")
	stale.Status.VerifiedApplicationKey = "acme.bitrix24.ru/before"
	portals := map[string]*b24v1.Portal{"p": portal("p", "app"), "q": portal("q", "app"), "other": portal("other", "other"),
		"unverified": unverified, "stale": stale}
	app := rules.ApplicationKey(portals["p"])
	for _, tc := range []struct {
		name string
		bots []*b24v1.ChatBot
		want string
	}{
		{"ordered by creation, then namespace, then name", []*b24v1.ChatBot{
			bot("b", "x", "p", 2), bot("a", "y", "p", 1), bot("a", "x", "p", 2), bot("a", "w", "p", 2)}, "a/y a/w a/x b/x"},
		{"every Portal of the same application counts", []*b24v1.ChatBot{bot("a", "x", "p", 1), bot("a", "y", "q", 2)}, "a/x a/y"},
		{"another application's bots do not", []*b24v1.ChatBot{bot("a", "x", "p", 1), bot("a", "y", "other", 0)}, "a/x"},
		{"a bot being deleted still holds its place while it has a remote bot", []*b24v1.ChatBot{
			bot("a", "x", "p", 1, deleting, registered(app)), bot("a", "y", "p", 2, deleting)}, "a/x"},
		{"an ObserveOnly bot holds its place like any other (the bot it observes counts remotely)", []*b24v1.ChatBot{
			bot("a", "x", "p", 2), bot("a", "y", "p", 1, observed), bot("a", "z", "p", 3, observed, registered(app))}, "a/y a/x a/z"},
		{"a registered bot whose Portal is gone holds its place under the recorded application", []*b24v1.ChatBot{
			bot("a", "x", "gone", 1, registered(app)), bot("a", "y", "gone", 2)}, "a/x"},
		{"a bot of a Portal whose credentials were never verified holds no place (made-up credentials use up no one's limit)", []*b24v1.ChatBot{
			bot("b", "squat", "unverified", 0), bot("a", "x", "p", 1)}, "a/x"},
		{"a Portal verified for another application than it now declares is not verified", []*b24v1.ChatBot{
			bot("b", "squat", "stale", 0), bot("a", "x", "p", 1)}, "a/x"},
		{"a registered bot keeps its place when its Portal's verification is lost", []*b24v1.ChatBot{
			bot("b", "x", "unverified", 0, registered(app)), bot("a", "y", "p", 1)}, "b/x a/y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rules.LimitHolders(app, tc.bots, func(b *b24v1.ChatBot) *b24v1.Portal {
				return portals[b.Spec.PortalRef.Name]
			})
			var names []string
			for _, b := range got {
				names = append(names, b.Namespace+"/"+b.Name)
			}
			if strings.Join(names, " ") != tc.want {
				t.Fatalf("holders %v, want %s", names, tc.want)
			}
		})
	}
}

func verifiedPortal(ns, name, clientID string) *b24v1.Portal {
	p := &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: b24v1.PortalSpec{
		URL:  "https://acme.bitrix24.ru",
		Auth: b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: clientID}},
	}}
	p.Status.VerifiedApplicationKey = rules.ApplicationKey(p)
	return p
}

func TestCodeAndHandlerHolders(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	unverified := verifiedPortal("b", "fake", "app")
	unverified.Status.VerifiedApplicationKey = ""
	portals := map[string]*b24v1.Portal{"a/p": verifiedPortal("a", "p", "app"), "b/p": verifiedPortal("b", "p", "app"),
		"b/other": verifiedPortal("b", "other", "other"), "b/fake": unverified}
	portalOf := func(b *b24v1.ChatBot) *b24v1.Portal { return portals[b.Namespace+"/"+b.Spec.PortalRef.Name] }
	bot := func(ns, name, portal string, created int, handler string, registered bool) *b24v1.ChatBot {
		b := &b24v1.ChatBot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(created) * time.Second))}}
		b.Spec.PortalRef.Name, b.Spec.Code = portal, "support"
		api := b24v1.BotAPIV1
		b.Spec.API = &api
		h := b24v1.HTTPSURL(handler)
		b.Spec.EventHandler = &h
		if registered {
			b.Status.BotID, b.Status.ApplicationKey = 7, rules.ApplicationKey(portalOf(b))
		}
		return b
	}
	name := func(b *b24v1.ChatBot) string {
		if b == nil {
			return "none"
		}
		return b.Namespace + "/" + b.Name
	}
	const host = "acme.bitrix24.ru"
	for _, tc := range []struct {
		name       string
		subject    *b24v1.ChatBot
		others     []*b24v1.ChatBot
		code, hand string
	}{
		{"the older object holds the code and the handlers", bot("b", "late", "p", 2, "https://b/", false),
			[]*b24v1.ChatBot{bot("a", "early", "p", 1, "https://a/", false)}, "a/early", "a/early"},
		{"the object at hand holds them when it is the older", bot("a", "early", "p", 1, "https://a/", false),
			[]*b24v1.ChatBot{bot("b", "late", "p", 2, "https://b/", false)}, "none", "none"},
		{"a registered object holds them whatever was created first", bot("b", "first", "p", 1, "https://b/", false),
			[]*b24v1.ChatBot{bot("a", "registered", "p", 2, "https://a/", true)}, "a/registered", "a/registered"},
		{"another application on the portal holds the code, not the handlers", bot("b", "late", "p", 2, "https://b/", false),
			[]*b24v1.ChatBot{bot("b", "other", "other", 1, "https://o/", false)}, "b/other", "none"},
		{"an object of an unverified Portal holds nothing", bot("a", "late", "p", 2, "https://a/", false),
			[]*b24v1.ChatBot{bot("b", "squat", "fake", 1, "https://b/", false)}, "none", "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := name(rules.CodeHolder(tc.subject, host, tc.others, portalOf)); got != tc.code {
				t.Errorf("code holder %s, want %s", got, tc.code)
			}
			var first *b24v1.ChatBot
			if hs := rules.HandlerHolders(tc.subject, rules.ApplicationKey(portalOf(tc.subject)), tc.others, portalOf); len(hs) > 0 && !rules.HoldsBefore(tc.subject, hs[0]) {
				first = hs[0]
			}
			if got := name(first); got != tc.hand {
				t.Errorf("handler holder %s, want %s", got, tc.hand)
			}
		})
	}
}
