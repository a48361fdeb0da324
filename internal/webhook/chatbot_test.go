package webhook_test

import (
	"context"
	"testing"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// app is one application (host + client id) with a namespace per team, the way the bot limit
// sees the cluster.
type app struct {
	host, key string
	ns1, ns2  string
}

func newApp(t *testing.T) *app {
	host := uniqueHost(t)
	return &app{host: host, key: host + "/bots", ns1: namespace(t), ns2: namespace(t)}
}

func (a *app) url() string { return "https://" + a.host }

const (
	hookA = "https://bots.acme.test/a"
	hookB = "https://bots.acme.test/b"
)

func TestChatBotCreate(t *testing.T) {
	cases := []struct {
		name string
		// given creates what exists before and returns the ChatBot to create and what the
		// refusal must say (nil: admitted).
		given func(t *testing.T, a *app) (*b24v1.ChatBot, []string)
	}{
		{"a bot under the limit is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 2), bot(a.ns1, "one", "acme", "one", hookA))
			return bot(a.ns1, "two", "acme", "two", hookA), nil
		}},
		{"the bot over the limit is refused, naming the limit, the application and the bots that hold it", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 2), bot(a.ns1, "one", "acme", "one", hookA), bot(a.ns1, "two", "acme", "two", hookA))
			return bot(a.ns1, "three", "acme", "three", hookA), []string{"spec.portalRef", "limit of 2 ChatBots", a.key, a.ns1 + "/one", a.ns1 + "/two", "spec.maxBots of Portal " + a.ns1 + "/acme"}
		}},
		{"the default limit is 5", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0))
			for _, n := range []string{"b1", "b2", "b3", "b4", "b5"} {
				mustCreate(t, bot(a.ns1, n, "acme", n, hookA))
			}
			return bot(a.ns1, "b6", "acme", "b6", hookA), []string{"limit of 5 ChatBots", a.ns1 + "/b5"}
		}},
		{"the limit is counted across namespaces and Portal objects of one application", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			// The second Portal spells the same application differently: upper case, :443.
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 3),
				portal(a.ns2, "acme-too", "https://"+upper(a.host)+":443", "bots", 3),
				bot(a.ns1, "one", "acme", "one", hookA), bot(a.ns1, "two", "acme", "two", hookA),
				bot(a.ns2, "three", "acme-too", "three", hookA))
			return bot(a.ns2, "four", "acme-too", "four", hookA), []string{"limit of 3 ChatBots", a.key, a.ns2 + "/three and 2 objects in other namespaces", "!" + a.ns1}
		}},
		{"another client id on the same host is another application with its own limit", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), portal(a.ns1, "acme-other", a.url(), "other", 1), bot(a.ns1, "one", "acme", "one", hookA))
			return bot(a.ns1, "two", "acme-other", "two", hookB), nil
		}},
		{"a bot being deleted that holds a remote bot still counts", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			old := bot(a.ns1, "old", "acme", "old", hookA)
			old.Finalizers = []string{heldFinalizer}
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), old)
			setBotID(t, old, 7, a.key)
			deleteHeld(t, old)
			return bot(a.ns1, "new", "acme", "new", hookA), []string{"limit of 1 ChatBots", a.ns1 + "/old (being deleted)"}
		}},
		{"a bot being deleted without a remote bot frees its place", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			old := bot(a.ns1, "old", "acme", "old", hookA)
			old.Finalizers = []string{heldFinalizer}
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), old)
			deleteHeld(t, old)
			return bot(a.ns1, "new", "acme", "new", hookA), nil
		}},
		{"a registered bot whose Portal is gone still counts in the application it is registered in", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			orphan := bot(a.ns2, "orphan", "gone", "orphan", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), orphan)
			setBotID(t, orphan, 9, a.key)
			return bot(a.ns1, "new", "acme", "new", hookA), []string{"limit of 1 ChatBots", "held by an object in another namespace", "!" + a.ns2, "!orphan"}
		}},
		{"a bot whose Portal does not exist yet is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			return bot(a.ns1, "early", "not-yet", "early", hookA), nil
		}},
		{"a bot of a Portal whose identity is in its Secret, not verified yet, is admitted; a code taken on the portal is still refused", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			inSecret := portal(a.ns1, "secret-id", a.url(), "bots", 1)
			inSecret.Spec.Auth.Webhook.ClientID = ""
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), inSecret, bot(a.ns1, "support", "acme", "support", hookA),
				bot(a.ns1, "first", "secret-id", "first", hookA))
			return bot(a.ns1, "helpdesk", "secret-id", "support", hookB), []string{"spec.code", "ChatBot " + a.ns1 + "/support"}
		}},
		{"a bot of a Portal whose identity is in its Secret is admitted past a limit only the controller can count", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			inSecret := portal(a.ns1, "secret-id", a.url(), "bots", 1)
			inSecret.Spec.Auth.Webhook.ClientID = ""
			mustCreate(t, inSecret, bot(a.ns1, "first", "secret-id", "first", hookA))
			return bot(a.ns1, "second", "secret-id", "second", hookB), nil
		}},
		{"the same code twice in one application is refused, naming the other bot", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA))
			return bot(a.ns1, "helpdesk", "acme", "support", hookA), []string{"spec.code", `code "support" is already used by ChatBot ` + a.ns1 + "/support", a.key, "unique on the portal " + a.host}
		}},
		{"the same code held in another namespace is refused without telling whose", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), portal(a.ns2, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA))
			return bot(a.ns2, "helpdesk", "acme", "support", hookA), []string{"spec.code", `code "support" is already used by an object in another namespace`, "unique on the portal " + a.host, "!" + a.ns1, "!ChatBot support"}
		}},
		{"a bot of a Portal whose credentials were never verified holds no place in the limit", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, unverified(portal(a.ns2, "fake", a.url(), "bots", 1)), bot(a.ns2, "squat", "fake", "squat", hookB))
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1))
			return bot(a.ns1, "mine", "acme", "mine", hookA), nil
		}},
		{"a bot of a Portal whose credentials were never verified squats no code and no handler set", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, unverified(portal(a.ns2, "fake", a.url(), "bots", 0)), bot(a.ns2, "squat", "fake", "support", hookB))
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0))
			return bot(a.ns1, "support", "acme", "support", hookA), nil
		}},
		{"a Portal verified for another client id than it now declares is not verified", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			stale := unverified(portal(a.ns2, "fake", a.url(), "bots", 0))
			mustCreate(t, stale, bot(a.ns2, "squat", "fake", "support", hookB))
			stale.Status.VerifiedApplicationKey = a.host + "/before"
			if err := env.Client.Status().Update(context.Background(), stale); err != nil {
				t.Fatal(err)
			}
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0))
			return bot(a.ns1, "support", "acme", "support", hookA), nil
		}},
		// Bitrix24 looks a CODE up across the portal: another application's bot would answer.
		{"the same code in another application on the same portal is refused", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), portal(a.ns1, "other", a.url(), "other", 0), bot(a.ns1, "support", "acme", "support", hookA))
			return bot(a.ns1, "helpdesk", "other", "support", hookB), []string{"spec.code", "ChatBot " + a.ns1 + "/support (application " + a.key + ")"}
		}},
		{"the same code on another portal is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), portal(a.ns1, "globex", "https://globex-"+a.host, "bots", 0), bot(a.ns1, "support", "acme", "support", hookA))
			return bot(a.ns1, "helpdesk", "globex", "support", hookB), nil
		}},
		{"a different event handler is refused, naming the bot and both URLs", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "first", "acme", "first", hookA))
			return bot(a.ns1, "second", "acme", "second", hookB), []string{"spec.eventHandler", hookA, hookB, "ChatBot " + a.ns1 + "/first", "one set of event handlers per application"}
		}},
		{"a different event handler than another namespace's is refused without its URL or name", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), portal(a.ns2, "acme", a.url(), "bots", 0), bot(a.ns1, "first", "acme", "first", hookA))
			return bot(a.ns2, "second", "acme", "second", hookB), []string{"spec.eventHandler", "differs from the event handlers of an object in another namespace", "one set of event handlers per application", "!" + hookA, "!" + a.ns1, "!first"}
		}},
		{"eventHandlers differing from another namespace's name the field, not the URL", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), portal(a.ns2, "acme", a.url(), "bots", 0), bot(a.ns1, "first", "acme", "first", hookA))
			b := bot(a.ns2, "second", "acme", "second", "")
			b.Spec.EventHandler, b.Spec.EventHandlers = nil, handlers(hookA, hookA, hookB)
			return b, []string{"spec.eventHandlers.botDelete", "botDelete handler differs from that of an object in another namespace", "!" + a.ns1, "!first"}
		}},
		{"V2 bots with different event handlers are admitted: each has its own webhookUrl", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), botV2(a.ns1, "first", "acme", "first", hookA), bot(a.ns1, "legacy", "acme", "legacy", hookA))
			return botV2(a.ns1, "second", "acme", "second", hookB), nil
		}},
		{"a V1 bot is held only to the handlers of the application's other V1 bots", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), botV2(a.ns1, "first", "acme", "first", hookB), bot(a.ns1, "legacy", "acme", "legacy", hookA))
			return bot(a.ns1, "second", "acme", "second", hookB), []string{"spec.eventHandler", hookA, hookB, a.ns1 + "/legacy"}
		}},
		{"eventHandlers that resolve to another bot's eventHandler are admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "first", "acme", "first", hookA))
			b := bot(a.ns1, "second", "acme", "second", "")
			b.Spec.EventHandler, b.Spec.EventHandlers = nil, handlers(hookA, hookA, hookA)
			return b, nil
		}},
		{"eventHandlers differing in one event name that event's field", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "first", "acme", "first", hookA))
			b := bot(a.ns1, "second", "acme", "second", "")
			b.Spec.EventHandler, b.Spec.EventHandlers = nil, handlers(hookA, hookA, hookB)
			return b, []string{"spec.eventHandlers.botDelete", "botDelete handler must be \"" + hookA + "\"", hookB, a.ns1 + "/first"}
		}},
		// ObserveOnly and adoption (bringing existing bots under GitOps).
		{"an ObserveOnly bot holds its place in the limit: the bot after it is refused", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), observed(bot(a.ns1, "seen", "acme", "seen", hookA)))
			return bot(a.ns1, "new", "acme", "new", hookA), []string{"limit of 1 ChatBots", a.ns1 + "/seen"}
		}},
		{"an ObserveOnly bot over the limit is refused like any other", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), bot(a.ns1, "one", "acme", "one", hookA))
			return observed(bot(a.ns1, "seen", "acme", "seen", hookA)), []string{"limit of 1 ChatBots", a.ns1 + "/one"}
		}},
		{"an ObserveOnly bot's code is taken like any other's", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), observed(bot(a.ns1, "seen", "acme", "support", hookA)))
			return bot(a.ns1, "support", "acme", "support", hookA), []string{"spec.code", a.ns1 + "/seen"}
		}},
		{"an ObserveOnly V1 bot without handlers is admitted next to a bot with handlers (it writes none)", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "first", "acme", "first", hookA))
			b := observed(bot(a.ns1, "seen", "acme", "seen", hookA))
			b.Spec.EventHandler = nil
			return b, nil
		}},
		{"a Full bot is not held to the handlers of an ObserveOnly bot", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), observed(bot(a.ns1, "seen", "acme", "seen", hookA)))
			return bot(a.ns1, "second", "acme", "second", hookB), nil
		}},
		{"an adopt.id another ChatBot on the portal adopts is refused, naming it", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), adopting(observed(bot(a.ns1, "seen", "acme", "seen", hookA)), 41))
			return adopting(observed(bot(a.ns1, "again", "acme", "again", hookA)), 41), []string{"spec.adopt.id", "bot 41", a.ns1 + "/seen"}
		}},
		{"an adopt.id naming a bot another ChatBot manages is refused", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			owner := bot(a.ns1, "owner", "acme", "owner", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), owner)
			setBotID(t, owner, 42, a.key)
			return adopting(observed(bot(a.ns1, "again", "acme", "again", hookA)), 42), []string{"spec.adopt.id", "bot 42", a.ns1 + "/owner"}
		}},
		{"the same adopt.id on another portal is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), portal(a.ns1, "globex", "https://globex-"+a.host, "bots", 0),
				adopting(observed(bot(a.ns1, "seen", "acme", "seen", hookA)), 43))
			return adopting(observed(bot(a.ns1, "other", "globex", "other", hookA)), 43), nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, want := tc.given(t, newApp(t))
			expect(t, env.Client.Create(context.Background(), b), want)
		})
	}
}

func TestChatBotUpdate(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// given creates the bots and returns the one to update, the change, and the refusal.
		given func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string)
	}{
		{"changing the event handler away from the application's is refused", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, second := bot(a.ns1, "first", "acme", "first", hookA), bot(a.ns1, "second", "acme", "second", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), first, second)
			return second, func(b *b24v1.ChatBot) { h := b24v1.HTTPSURL(hookB); b.Spec.EventHandler = &h },
				[]string{"spec.eventHandler", hookA, hookB, a.ns1 + "/first"}
		}},
		{"changing the event handler away from another namespace's is refused without its URL", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, second := bot(a.ns1, "first", "acme", "first", hookA), bot(a.ns2, "second", "acme", "second", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), portal(a.ns2, "acme", a.url(), "bots", 0), first, second)
			return second, func(b *b24v1.ChatBot) { h := b24v1.HTTPSURL(hookB); b.Spec.EventHandler = &h },
				[]string{"spec.eventHandler", "an object in another namespace", "!" + hookA, "!" + a.ns1}
		}},
		{"changing the event handler with the migrate-handlers annotation is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, second := bot(a.ns1, "first", "acme", "first", hookA), bot(a.ns1, "second", "acme", "second", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), first, second)
			return second, func(b *b24v1.ChatBot) {
				h := b24v1.HTTPSURL(hookB)
				b.Spec.EventHandler = &h
				b.Annotations = map[string]string{b24v1.MigrateHandlersAnnotation: "true"}
			}, nil
		}},
		{"changing the handler of an application's only bot is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			only := bot(a.ns1, "only", "acme", "only", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), only)
			return only, func(b *b24v1.ChatBot) { h := b24v1.HTTPSURL(hookB); b.Spec.EventHandler = &h }, nil
		}},
		{"switching to the equivalent eventHandlers form is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, second := bot(a.ns1, "first", "acme", "first", hookA), bot(a.ns1, "second", "acme", "second", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), first, second)
			return second, func(b *b24v1.ChatBot) { b.Spec.EventHandler, b.Spec.EventHandlers = nil, handlers(hookA, hookA, hookA) }, nil
		}},
		// The two bots disagree because the second was created before its Portal existed: an
		// existing disagreement must not block edits that do not touch the handlers, nor the
		// controller's finalizer.
		{"an edit that leaves the handlers alone passes despite an existing disagreement", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, late := bot(a.ns1, "first", "acme", "first", hookA), bot(a.ns1, "late", "acme-late", "late", hookB)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), first, late, portal(a.ns1, "acme-late", a.url(), "bots", 0))
			return late, func(b *b24v1.ChatBot) { n := "Renamed"; b.Spec.Properties.Name = &n }, nil
		}},
		{"a finalizer added to a bot over the limit passes", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, late := bot(a.ns1, "first", "acme", "first", hookA), bot(a.ns1, "late", "acme-late", "late", hookA)
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), first, late, portal(a.ns1, "acme-late", a.url(), "bots", 1))
			return late, func(b *b24v1.ChatBot) { b.Finalizers = append(b.Finalizers, b24v1.Finalizer) }, nil
		}},
		{"switching an ObserveOnly bot to Full holds it to the application's handlers", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, seen := bot(a.ns1, "first", "acme", "first", hookA), observed(bot(a.ns1, "seen", "acme", "seen", hookB))
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), first, seen)
			return seen, func(b *b24v1.ChatBot) { p := b24v1.ManagementPolicyFull; b.Spec.ManagementPolicy = &p },
				[]string{"spec.eventHandler", hookA, hookB, a.ns1 + "/first"}
		}},
		{"switching an ObserveOnly bot to Full with the application's handlers is admitted", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			first, seen := bot(a.ns1, "first", "acme", "first", hookA), observed(bot(a.ns1, "seen", "acme", "seen", hookA))
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), first, seen)
			return seen, func(b *b24v1.ChatBot) { p := b24v1.ManagementPolicyFull; b.Spec.ManagementPolicy = &p }, nil
		}},
		{"adding an adopt.id another ChatBot adopts is refused", func(t *testing.T, a *app) (*b24v1.ChatBot, func(*b24v1.ChatBot), []string) {
			seen, late := adopting(observed(bot(a.ns1, "seen", "acme", "seen", hookA)), 44), observed(bot(a.ns1, "late", "acme", "late", hookA))
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), seen, late)
			return late, func(b *b24v1.ChatBot) { b.Spec.Adopt = &b24v1.Adopt{ID: 44} }, []string{"spec.adopt.id", a.ns1 + "/seen"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, change, want := tc.given(t, newApp(t))
			if err := env.Client.Get(ctx, keyOf(b), b); err != nil {
				t.Fatal(err)
			}
			change(b)
			expect(t, env.Client.Update(ctx, b), want)
		})
	}
}

// observed makes a ChatBot ObserveOnly.
func observed(b *b24v1.ChatBot) *b24v1.ChatBot {
	p := b24v1.ManagementPolicyObserveOnly
	b.Spec.ManagementPolicy = &p
	return b
}

// adopting names the remote bot a ChatBot adopts.
func adopting(b *b24v1.ChatBot, id int64) *b24v1.ChatBot {
	b.Spec.Adopt = &b24v1.Adopt{ID: id}
	return b
}
