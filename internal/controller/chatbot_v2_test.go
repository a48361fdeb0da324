package controller_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/managed"
)

// chatBotV2 is a ChatBot without spec.api: a V2 webhook bot where the portal has imbot.v2.
func chatBotV2(ns, name, portal, code string) *b24v1.ChatBot {
	b := chatBot(ns, name, portal, code)
	b.Spec.API = nil
	b.Spec.EventHandler = ptr(b24v1.HTTPSURL("https://bots.example.com/" + code + "/v2/events"))
	return b
}

// waitRemoteBot waits for the simulator's bot with the code to satisfy ok.
func waitRemoteBot(t *testing.T, sim *bitrixtest.Server, code, what string, ok func(bitrixtest.Bot) bool) bitrixtest.Bot {
	t.Helper()
	var rb bitrixtest.Bot
	eventually(t, 20*time.Second, what, func() (bool, string) {
		var found bool
		rb, found = remoteBot(sim, code)
		return found && ok(rb), fmt.Sprintf("remote bot %+v (found %v)", rb, found)
	})
	return rb
}

func countV2(sim *bitrixtest.Server, method string) int {
	return sim.CallCount("imbot.v2.Bot." + method)
}

func TestChatBotV2(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	noV2 := bitrixtest.NewServer(bitrixtest.WithoutV2())
	defer noV2.Close()
	limited := bitrixtest.NewServer(bitrixtest.WithMaxBotsV2PerApp(1))
	defer limited.Close()
	run := subtests(t, managerOpts{})

	cases := []struct {
		name string
		run  func(t *testing.T, ns string)
	}{
		{"without spec.api a bot on a portal with imbot.v2 is registered through V2 in webhook mode", func(t *testing.T, ns string) {
			p := webhookPortal(t, ns, "acme", "v2-default", sim)
			b := chatBotV2(ns, "support", "acme", "v2-support")
			create(t, b)
			waitReady(t, b)
			if b.Status.API != b24v1.BotAPIV2 || b.Status.EventMode != b24v1.EventModeWebhook || b.Status.BotID == 0 {
				t.Fatalf("status = api %q, eventMode %q, botId %d; want V2, Webhook and an id", b.Status.API, b.Status.EventMode, b.Status.BotID)
			}
			rb, _ := remoteBot(sim, "v2-support")
			if rb.API != bitrixtest.APIV2 || rb.EventMode != "webhook" || rb.WebhookURL != string(*b.Spec.EventHandler) || int64(rb.ID) != b.Status.BotID {
				t.Fatalf("remote bot = %+v, want a v2 webhook bot with the eventHandler as webhookUrl and id %d", rb, b.Status.BotID)
			}
			waitReady(t, p)
			if p.Status.V2Available == nil || !*p.Status.V2Available || p.Status.APIRevision < 33 {
				t.Errorf("portal status: v2Available %v, apiRevision %d; want true and at least 33", p.Status.V2Available, p.Status.APIRevision)
			}
			waitEvent(t, b, managed.EventCreated)
			assertKstatus(t, b)
		}},
		{"a V2 bot without eventHandler runs in fetch mode", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-fetch", sim)
			b := chatBotV2(ns, "poller", "acme", "v2-poller")
			b.Spec.EventHandler = nil
			create(t, b)
			waitReady(t, b)
			if b.Status.EventMode != b24v1.EventModeFetch {
				t.Errorf("status.eventMode = %q, want Fetch", b.Status.EventMode)
			}
			if rb, _ := remoteBot(sim, "v2-poller"); rb.API != bitrixtest.APIV2 || rb.EventMode != "fetch" || rb.WebhookURL != "" {
				t.Errorf("remote bot = %+v, want a v2 fetch bot without webhookUrl", rb)
			}
		}},
		{"a spec change sends one Bot.update and a resync without change sends none", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-update", sim)
			b := chatBotV2(ns, "support", "acme", "v2-upd")
			create(t, b)
			waitReady(t, b)
			before := countV2(sim, "update")
			update(t, b, func() {
				b.Spec.Properties.Name = ptr("Renamed")
				b.Spec.Properties.Hidden = ptr(true)
			})
			waitRemoteBot(t, sim, "v2-upd", "the new name and flag remotely", func(rb bitrixtest.Bot) bool {
				return rb.Properties.Name == "Renamed" && rb.Hidden
			})
			waitReady(t, b)
			if n := countV2(sim, "update") - before; n != 1 {
				t.Errorf("%d Bot.update calls for one change, want 1", n)
			}
			before = countV2(sim, "update")
			forceReconcile(t, b)
			if n := countV2(sim, "update") - before; n != 0 {
				t.Errorf("%d Bot.update calls on a resync without change, want 0", n)
			}
		}},
		{"a V2 bot deleted in the portal is registered again", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-drift", sim)
			b := chatBotV2(ns, "support", "acme", "v2-drift")
			create(t, b)
			waitReady(t, b)
			old := b.Status.BotID
			if !sim.DeleteBotRemotely(int(old)) {
				t.Fatal("the bot was not on the portal")
			}
			forceReconcile(t, b)
			rb := waitRemoteBot(t, sim, "v2-drift", "the bot registered again", func(rb bitrixtest.Bot) bool { return int64(rb.ID) != old })
			eventually(t, 20*time.Second, "status.botId of the new bot", func() (bool, string) {
				reload(t, b)
				return b.Status.BotID == int64(rb.ID), fmt.Sprintf("botId %d, remote %d", b.Status.BotID, rb.ID)
			})
			if rb.API != bitrixtest.APIV2 {
				t.Errorf("recreated through %s, want v2", rb.API)
			}
			waitEvent(t, b, managed.EventRecreated)
		}},
		{"deleting a V2 bot unregisters it; Orphan leaves it", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-delete", sim)
			gone := chatBotV2(ns, "gone", "acme", "v2-gone")
			kept := chatBotV2(ns, "kept", "acme", "v2-kept")
			kept.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
			create(t, gone, kept)
			waitReady(t, gone)
			waitReady(t, kept)
			before := countV2(sim, "unregister")
			deleteObject(t, gone)
			deleteObject(t, kept)
			waitGone(t, gone)
			waitGone(t, kept)
			if _, ok := remoteBot(sim, "v2-gone"); ok {
				t.Error("the deleted bot is still on the portal")
			}
			if _, ok := remoteBot(sim, "v2-kept"); !ok {
				t.Error("the orphaned bot was removed")
			}
			if n := countV2(sim, "unregister") - before; n != 1 {
				t.Errorf("%d Bot.unregister calls, want 1", n)
			}
		}},
		{"a code another application holds stalls with CodeTaken naming the reinstall case", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "owner", "v2-owner", sim)
			owned := chatBotV2(ns, "owned", "owner", "v2-shared")
			owned.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
			create(t, owned)
			waitReady(t, owned)
			ownerID := reload(t, owned).Status.BotID
			// The other application's bot outlives its object: no ChatBot holds the code, so
			// only the portal can tell it is taken.
			deleteObject(t, owned)
			waitGone(t, owned)
			webhookPortal(t, ns, "other", "v2-other", sim)
			taken := chatBotV2(ns, "taken", "other", "v2-shared")
			create(t, taken)
			assertStalled(t, taken, b24v1.ReasonCodeTaken)
			msg := readyMessage(taken)
			for _, want := range []string{"v2-shared", "previous installation", "choose another code"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
			if taken.Status.BotID != 0 {
				t.Errorf("botId = %d, want 0 for a bot that is not ours", taken.Status.BotID)
			}
			deleteObject(t, taken)
			waitGone(t, taken)
			if rb, ok := remoteBot(sim, "v2-shared"); !ok || int64(rb.ID) != ownerID {
				t.Fatalf("remote bot = %+v (found %v), want the owner's bot untouched", rb, ok)
			}
		}},
		{"Bitrix24's V2 bot limit gives BotLimitExceeded", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-limit", limited)
			first := chatBotV2(ns, "first", "acme", "limit-first")
			create(t, first)
			waitReady(t, first)
			second := chatBotV2(ns, "second", "acme", "limit-second")
			create(t, second)
			assertStalled(t, second, b24v1.ReasonBotLimitExceeded)
			if _, ok := remoteBot(limited, "limit-second"); ok {
				t.Error("the bot over the limit was registered")
			}
		}},
		{"a webhook clientId longer than 40 characters is refused for V2 with InvalidSpec", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", strings.Repeat("k", 41), sim)
			b := chatBotV2(ns, "support", "acme", "long-token")
			create(t, b)
			assertStalled(t, b, b24v1.ReasonInvalidSpec)
			if msg := readyMessage(b); !strings.Contains(msg, "40 characters") || strings.Contains(msg, strings.Repeat("k", 41)) {
				t.Errorf("message %q must name the 40-character rule and not the token", msg)
			}
		}},
		{"V1 and V2 bots share one Portal", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-mixed", sim)
			v1 := chatBot(ns, "legacy", "acme", "mixed-v1")
			v2 := chatBotV2(ns, "modern", "acme", "mixed-v2")
			create(t, v1, v2)
			waitReady(t, v1)
			waitReady(t, v2)
			if a, b := v1.Status.API, v2.Status.API; a != b24v1.BotAPIV1 || b != b24v1.BotAPIV2 {
				t.Fatalf("status.api = %q and %q, want V1 and V2", a, b)
			}
			r1, _ := remoteBot(sim, "mixed-v1")
			r2, _ := remoteBot(sim, "mixed-v2")
			if r1.API != bitrixtest.APIV1 || r2.API != bitrixtest.APIV2 {
				t.Errorf("remote APIs %q and %q, want v1 and v2", r1.API, r2.API)
			}
			forceReconcile(t, v1)
			forceReconcile(t, v2)
			assertInSync(t, v1)
			assertInSync(t, v2)
		}},
		{"a bot registered before spec.api existed stays V1", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-legacy", sim)
			b := chatBot(ns, "legacy", "acme", "legacy-v1")
			create(t, b)
			waitReady(t, b)
			id := b.Status.BotID
			// What an object from before the field looks like: no spec.api, no status.api.
			update(t, b, func() { b.Spec.API = nil })
			eventually(t, 10*time.Second, "status.api removed", func() (bool, string) {
				reload(t, b)
				b.Status.API = ""
				err := env.Client.Status().Update(context.Background(), b)
				return err == nil, fmt.Sprint(err)
			})
			registers := countV2(sim, "register")
			forceReconcile(t, b)
			eventually(t, 20*time.Second, "status.api V1", func() (bool, string) {
				reload(t, b)
				return b.Status.API == b24v1.BotAPIV1, fmt.Sprintf("status.api %q", b.Status.API)
			})
			waitReady(t, b)
			if b.Status.BotID != id || countV2(sim, "register") != registers {
				t.Errorf("botId %d (was %d), %d new V2 registers: the bot was moved", b.Status.BotID, id, countV2(sim, "register")-registers)
			}
			if rb, _ := remoteBot(sim, "legacy-v1"); rb.API != bitrixtest.APIV1 {
				t.Errorf("remote bot API %q, want v1", rb.API)
			}
		}},
		{"changing spec.api of a registered bot is refused", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-switch", sim)
			b := chatBot(ns, "legacy", "acme", "switch-v1")
			create(t, b)
			waitReady(t, b)
			update(t, b, func() { b.Spec.API = ptr(b24v1.BotAPIV2) })
			assertStalled(t, b, b24v1.ReasonInvalidSpec)
			if msg := readyMessage(b); !strings.Contains(msg, "cannot change its API") {
				t.Errorf("message %q does not say the API cannot change", msg)
			}
			if rb, _ := remoteBot(sim, "switch-v1"); rb.API != bitrixtest.APIV1 {
				t.Errorf("remote bot API %q, want v1", rb.API)
			}
		}},
		{"without spec.api a bot on a portal without imbot.v2 is registered through V1, saying so", func(t *testing.T, ns string) {
			p := webhookPortal(t, ns, "old", "nov2-default", noV2)
			b := chatBotV2(ns, "support", "old", "nov2-support")
			create(t, b)
			waitReady(t, b)
			if b.Status.API != b24v1.BotAPIV1 {
				t.Errorf("status.api = %q, want V1", b.Status.API)
			}
			if msg := readyMessage(b); !strings.Contains(msg, "no imbot.v2") {
				t.Errorf("Ready message %q does not say why V1 was used", msg)
			}
			if rb, _ := remoteBot(noV2, "nov2-support"); rb.API != bitrixtest.APIV1 {
				t.Errorf("remote bot API %q, want v1", rb.API)
			}
			waitReady(t, p)
			if p.Status.V2Available == nil || *p.Status.V2Available || p.Status.APIRevision != 0 {
				t.Errorf("portal status: v2Available %v, apiRevision %d; want false and 0", p.Status.V2Available, p.Status.APIRevision)
			}
		}},
		{"an explicit V2 on a portal without imbot.v2 stalls with InvalidSpec", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "old", "nov2-explicit", noV2)
			b := chatBotV2(ns, "support", "old", "nov2-explicit")
			b.Spec.API = ptr(b24v1.BotAPIV2)
			create(t, b)
			assertStalled(t, b, b24v1.ReasonInvalidSpec)
			if msg := readyMessage(b); !strings.Contains(msg, "no imbot.v2") {
				t.Errorf("message %q does not say the portal lacks imbot.v2", msg)
			}
			if _, ok := remoteBot(noV2, "nov2-explicit"); ok {
				t.Error("a bot was registered")
			}
		}},
	}
	for _, tc := range cases {
		run(tc.name, tc.run)
	}
	// Polling acknowledges a bot's events: they belong to the team's code.
	for _, s := range []*bitrixtest.Server{sim, noV2, limited} {
		if n := s.EventGetCount(); n != 0 {
			t.Errorf("the operator called imbot.v2.Event.get %d times", n)
		}
	}
}

// A crash after Bot.register and before the status write must not leave a second bot: the
// next manager finds the bot by code as its own and adopts it.
func TestChatBotV2CrashBetweenRegisterAndStatusWriteLeavesOneBot(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()

	var failed atomic.Int32
	crashing := statusCrash(func(b *b24v1.ChatBot) bool { return b.Status.BotID != 0 }, &failed)
	ns, _, stop1 := startTest(t, managerOpts{newClient: crashing})
	portal := webhookPortal(t, ns, "acme", "v2-crash", sim)
	bot := chatBotV2(ns, "support", "acme", "v2-crash")
	create(t, bot)

	eventually(t, 30*time.Second, "the register whose status write fails", func() (bool, string) {
		return failed.Load() > 0 && len(sim.Bots()) > 0, fmt.Sprintf("failed writes %d, remote bots %d", failed.Load(), len(sim.Bots()))
	})
	stop1()
	if reload(t, bot).Status.BotID != 0 {
		t.Fatalf("status.botId = %d after the failed write, want 0", bot.Status.BotID)
	}

	startManager(t, managerOpts{})
	waitReady(t, portal)
	waitReady(t, bot)
	bots := sim.Bots()
	if len(bots) != 1 || int64(bots[0].ID) != bot.Status.BotID || bots[0].API != bitrixtest.APIV2 {
		t.Fatalf("remote bots = %+v, want the one v2 bot with id %d", bots, bot.Status.BotID)
	}
	if c := meta.FindStatusCondition(bot.Status.Conditions, b24v1.ConditionReady); c == nil || c.Reason != b24v1.ReasonSucceeded {
		t.Errorf("Ready = %+v, want Succeeded", c)
	}
}
