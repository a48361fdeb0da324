package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// botWrites counts the simulator's calls that change bots.
func botWrites(sim *bitrixtest.Server) int {
	n := 0
	for _, m := range []string{"imbot.register", "imbot.update", "imbot.unregister"} {
		n += sim.CallCount(m)
	}
	return n
}

// orphanedBot registers a bot through a ChatBot with deletionPolicy Orphan and deletes the
// object: the bot is left on the portal, as one made by hand would be. It returns its id.
func orphanedBot(t *testing.T, ns, portal, code string, sim *bitrixtest.Server) int64 {
	t.Helper()
	b := chatBot(ns, "was-"+code, portal, code)
	b.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
	create(t, b)
	waitReady(t, b)
	deleteObject(t, b)
	waitGone(t, b)
	return b.Status.BotID
}

// TestObserveOnly pins managementPolicy ObserveOnly against the simulator's call counts: an
// existing bot is found by its CODE and reported, drift shows in Synced, and nothing is
// written through create, drift, a spec change or deletion; switching to Full takes the same
// bot over with one imbot.update.
func TestObserveOnly(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	run := subtests(t, managerOpts{})

	run("an existing bot is observed with zero writes, then taken over in place", func(t *testing.T, ns string) {
		webhookPortal(t, ns, "acme", "observe-app", sim)
		id := orphanedBot(t, ns, "acme", "observe-me", sim)
		sim.ResetCalls()

		bot := chatBot(ns, "support", "acme", "observe-me")
		bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		bot.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyDelete)
		bot.Spec.Properties.Name = ptr("New name")
		create(t, bot)
		waitReady(t, bot)
		if bot.Status.BotID != id || bot.Status.DeletionPolicy != b24v1.DeletionPolicyOrphan {
			t.Fatalf("status botId %d deletionPolicy %q, want the existing bot %d and Orphan", bot.Status.BotID, bot.Status.DeletionPolicy, id)
		}
		synced := meta.FindStatusCondition(bot.Status.Conditions, b24v1.ConditionSynced)
		if synced == nil || synced.Status != metav1.ConditionFalse || !strings.Contains(synced.Message, "properties.name") {
			t.Fatalf("Synced %+v, want False naming properties.name", synced)
		}
		update(t, bot, func() { bot.Spec.Properties.Name = ptr("Newer name") })
		waitReady(t, bot)
		poke(t, bot)
		if n := botWrites(sim); n != 0 {
			t.Fatalf("%d bot writes for an ObserveOnly bot through create, drift and a spec change, want 0", n)
		}

		update(t, bot, func() { bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyFull) })
		waitReady(t, bot)
		rb, _ := remoteBot(sim, "observe-me")
		if bot.Status.BotID != id || int64(rb.ID) != id || rb.Properties.Name != "Newer name" {
			t.Fatalf("after switching to Full: status botId %d, remote %+v; want bot %d renamed in place", bot.Status.BotID, rb, id)
		}
		if sim.CallCount("imbot.register") != 0 || sim.CallCount("imbot.update") != 1 {
			t.Fatalf("register %d, update %d: want the bot taken over with one imbot.update", sim.CallCount("imbot.register"), sim.CallCount("imbot.update"))
		}
		if c := meta.FindStatusCondition(bot.Status.Conditions, b24v1.ConditionSynced); c != nil {
			t.Errorf("Synced %+v kept after switching to Full", c)
		}
	})

	run("deleting an ObserveOnly bot leaves it remotely, whatever deletionPolicy says", func(t *testing.T, ns string) {
		webhookPortal(t, ns, "acme", "observe-del-app", sim)
		id := orphanedBot(t, ns, "acme", "observe-del", sim)
		sim.ResetCalls()
		bot := chatBot(ns, "support", "acme", "observe-del")
		bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		bot.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyDelete)
		create(t, bot)
		waitReady(t, bot)
		deleteObject(t, bot)
		waitGone(t, bot)
		if rb, ok := remoteBot(sim, "observe-del"); !ok || int64(rb.ID) != id {
			t.Fatalf("remote bot %+v (found %v), want bot %d left", rb, ok, id)
		}
		if n := botWrites(sim); n != 0 {
			t.Fatalf("%d bot writes, want 0", n)
		}
	})

	run("a V2 bot is found in imbot.v2.Bot.list and observed with zero writes", func(t *testing.T, ns string) {
		webhookPortal(t, ns, "acme", "observe-v2-app", sim)
		was := chatBotV2(ns, "was-v2", "acme", "observe-v2")
		was.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
		create(t, was)
		waitReady(t, was)
		deleteObject(t, was)
		waitGone(t, was)
		id := was.Status.BotID
		sim.ResetCalls()

		bot := chatBotV2(ns, "support-v2", "acme", "observe-v2")
		bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		create(t, bot)
		waitReady(t, bot)
		if bot.Status.BotID != id || bot.Status.API != b24v1.BotAPIV2 {
			t.Fatalf("status botId %d api %q, want the existing V2 bot %d", bot.Status.BotID, bot.Status.API, id)
		}
		poke(t, bot)
		writes := 0
		for _, m := range []string{"register", "update", "unregister"} {
			writes += countV2(sim, m)
		}
		if n := writes + botWrites(sim); n != 0 {
			t.Fatalf("%d bot writes for an ObserveOnly V2 bot, want 0", n)
		}
	})

	run("a bot that does not exist is reported, not registered", func(t *testing.T, ns string) {
		waitReady(t, webhookPortal(t, ns, "acme", "observe-none-app", sim))
		sim.ResetCalls()
		bot := chatBot(ns, "ghost", "acme", "observe-ghost")
		bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		create(t, bot)
		// Ready is DependencyNotReady both while the Portal is not yet Ready in the cache and
		// once the bot was looked up and not found; only the latter sets Synced.
		eventually(t, 30*time.Second, "Synced NotFound", func() (bool, string) {
			reload(t, bot)
			synced := meta.FindStatusCondition(bot.Status.Conditions, b24v1.ConditionSynced)
			return synced != nil && synced.Reason == b24v1.SyncedReasonNotFound, fmt.Sprintf("Synced %+v", synced)
		})
		waitReason(t, bot, metav1.ConditionFalse, b24v1.ReasonDependencyNotReady, 30*time.Second)
		poke(t, bot)
		if _, ok := remoteBot(sim, "observe-ghost"); ok || botWrites(sim) != 0 {
			t.Fatalf("a bot was written for an ObserveOnly object (%d writes)", botWrites(sim))
		}
		deleteObject(t, bot)
		waitGone(t, bot)
		if n := botWrites(sim); n != 0 {
			t.Fatalf("%d bot writes on deletion, want 0", n)
		}
	})
}

// TestChatObserveOnlyAdoptsByID pins spec.adopt.id on a Chat whose entity does not find it:
// ObserveOnly reads the chat, reports the title drift and writes nothing; Full then takes the
// same chat over.
func TestChatObserveOnlyAdoptsByID(t *testing.T) {
	run := perSimCases(t, managerOpts{})
	run("a chat named by spec.adopt.id is observed with zero writes, then taken over in place", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		id, err := remoteClient(t, sim).ChatAdd(context.Background(), bitrix.ChatAddParams{
			BotID: int(bot.Status.BotID), Title: "Old title", Users: []int{1}, EntityType: "ELSEWHERE", EntityID: "made-by-hand"})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		ch := groupChat(ns, "incidents", "support", 1)
		ch.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		ch.Spec.Adopt = &b24v1.Adopt{ID: int64(id)}
		create(t, ch)
		waitReady(t, ch)
		poke(t, ch)
		if ch.Status.ChatID != int64(id) {
			t.Fatalf("status.chatId %d, want the adopted chat %d", ch.Status.ChatID, id)
		}
		if synced := meta.FindStatusCondition(ch.Status.Conditions, b24v1.ConditionSynced); synced == nil || synced.Status != metav1.ConditionFalse || !strings.Contains(synced.Message, "title") {
			t.Fatalf("Synced %+v, want False naming the title", synced)
		}
		if w := writeCalls(sim); len(w) != 0 {
			t.Fatalf("writes for an ObserveOnly chat: %v", w)
		}

		update(t, ch, func() { ch.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyFull) })
		assertInSync(t, ch)
		if ch.Status.ChatID != int64(id) || remoteChat(t, sim, int64(id)).Title != "Incidents" || sim.CallCount("imbot.chat.add") != 0 {
			t.Fatalf("after switching to Full: chatId %d, remote title %q, %d chat.add; want chat %d retitled in place",
				ch.Status.ChatID, remoteChat(t, sim, int64(id)).Title, sim.CallCount("imbot.chat.add"), id)
		}
	})
}
