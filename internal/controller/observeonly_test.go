package controller_test

import (
	"context"
	"fmt"
	"slices"
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

	run("an ObserveOnly bot holds its place in the bot limit: the Full bot after it stalls without a remote call", func(t *testing.T, ns string) {
		webhookPortal(t, ns, "acme", "observe-limit-app", sim, func(p *b24v1.Portal) { p.Spec.MaxBots = ptr(int32(1)) })
		id := orphanedBot(t, ns, "acme", "observe-held", sim)
		// The names order the two bots too when they are created within the same second.
		seen := chatBot(ns, "held", "acme", "observe-held")
		seen.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		create(t, seen)
		waitReady(t, seen)
		if seen.Status.BotID != id {
			t.Fatalf("observed botId %d, want %d", seen.Status.BotID, id)
		}
		sim.ResetCalls()
		extra := chatBot(ns, "later", "acme", "observe-extra")
		create(t, extra)
		assertStalled(t, extra, b24v1.ReasonBotLimitExceeded)
		if msg := condition(t, extra, b24v1.ConditionReady).Message; !strings.Contains(msg, ns+"/held") {
			t.Errorf("Ready message %q does not name the observed bot that holds the limit", msg)
		}
		if calls := callsWithCode(sim, "observe-extra"); len(calls) != 0 || botWrites(sim) != 0 {
			t.Fatalf("remote calls for the bot over the limit: %+v (%d bot writes)", calls, botWrites(sim))
		}
		// Deleting the observed bot frees its place (and leaves the remote bot alone).
		deleteObject(t, seen)
		waitGone(t, seen)
		waitReady(t, extra)
		if _, ok := remoteBot(sim, "observe-held"); !ok {
			t.Fatal("deleting the ObserveOnly ChatBot unregistered the bot it observed")
		}
	})

	run("a bot that does not exist is reported, not registered", func(t *testing.T, ns string) {
		// The Portal is Ready first: DependencyNotReady must come from the missing bot, not
		// from a Portal still being checked.
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

// appWrites counts the simulator's calls that change chat apps.
func appWrites(sim *bitrixtest.Server) int {
	n := 0
	for _, m := range []string{"imbot.app.register", "imbot.app.update", "imbot.app.unregister"} {
		n += sim.CallCount(m)
	}
	return n
}

// TestAdoptByID pins spec.adopt.id on ChatBot (V1 and V2) and ChatApp: the remote object named
// by its id is observed with zero writes, and switching to Full takes that same object over in
// place (an update, never a register of a new one).
func TestAdoptByID(t *testing.T) {
	run := perSimCases(t, managerOpts{})
	ctx := context.Background()

	run("a V1 bot named by adopt.id is observed with zero writes, then taken over in place", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		webhookPortal(t, ns, "acme", "acme-bots", sim)
		id, err := remoteClient(t, sim).Register(ctx, bitrix.BotParams{Code: "by-hand", EventHandler: "https://bots.example.com/events",
			Properties: bitrix.BotProperties{Name: "Made by hand"}})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		bot := chatBot(ns, "support", "acme", "by-hand")
		bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		bot.Spec.Adopt = &b24v1.Adopt{ID: int64(id)}
		create(t, bot)
		waitReady(t, bot)
		poke(t, bot)
		if bot.Status.BotID != int64(id) {
			t.Fatalf("status.botId %d, want the adopted bot %d", bot.Status.BotID, id)
		}
		if synced := meta.FindStatusCondition(bot.Status.Conditions, b24v1.ConditionSynced); synced == nil || synced.Status != metav1.ConditionFalse || !strings.Contains(synced.Message, "properties.name") {
			t.Fatalf("Synced %+v, want False naming properties.name", synced)
		}
		if n := botWrites(sim); n != 0 {
			t.Fatalf("%d bot writes for an ObserveOnly bot, want 0", n)
		}

		update(t, bot, func() { bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyFull) })
		assertInSync(t, bot)
		rb, _ := remoteBot(sim, "by-hand")
		if bot.Status.BotID != int64(id) || rb.ID != id || rb.Properties.Name != "Bot support" {
			t.Fatalf("after switching to Full: status botId %d, remote %+v; want bot %d renamed in place", bot.Status.BotID, rb, id)
		}
		if sim.CallCount("imbot.register") != 0 || sim.CallCount("imbot.update") != 1 {
			t.Fatalf("register %d, update %d: want the bot taken over with one imbot.update", sim.CallCount("imbot.register"), sim.CallCount("imbot.update"))
		}
	})

	run("a Full bot created with adopt.id takes the bot over at once", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		webhookPortal(t, ns, "acme", "acme-bots", sim)
		id, err := remoteClient(t, sim).Register(ctx, bitrix.BotParams{Code: "by-hand", EventHandler: "https://bots.example.com/events",
			Properties: bitrix.BotProperties{Name: "Made by hand"}})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		bot := chatBot(ns, "support", "acme", "by-hand")
		bot.Spec.Adopt = &b24v1.Adopt{ID: int64(id)}
		create(t, bot)
		assertInSync(t, bot)
		if rb, _ := remoteBot(sim, "by-hand"); bot.Status.BotID != int64(id) || rb.Properties.Name != "Bot support" || sim.CallCount("imbot.register") != 0 {
			t.Fatalf("status botId %d, remote %+v, %d imbot.register: want bot %d updated in place", bot.Status.BotID, rb, sim.CallCount("imbot.register"), id)
		}
	})

	run("adopt.id naming a bot with another code stalls with InvalidSpec and writes nothing", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		webhookPortal(t, ns, "acme", "acme-bots", sim)
		id, err := remoteClient(t, sim).Register(ctx, bitrix.BotParams{Code: "other-code", EventHandler: "https://bots.example.com/events",
			Properties: bitrix.BotProperties{Name: "Other"}})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		bot := chatBot(ns, "support", "acme", "by-hand")
		bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		bot.Spec.Adopt = &b24v1.Adopt{ID: int64(id)}
		create(t, bot)
		assertStalled(t, bot, b24v1.ReasonInvalidSpec)
		if msg := condition(t, bot, b24v1.ConditionReady).Message; !strings.Contains(msg, `code "other-code"`) {
			t.Errorf("Ready message %q, want it to name the remote code", msg)
		}
		if n := botWrites(sim); n != 0 {
			t.Fatalf("%d bot writes, want 0", n)
		}
	})

	run("adopt.id naming another application's bot stalls with CodeTaken, keeps no botId, and changes nothing", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		webhookPortal(t, ns, "acme", "acme-bots", sim)
		other, err := bitrix.New(bitrix.WithWebhook(sim.AddWebhook(1, "other"+uniqueToken()), "other-app"), bitrix.WithCABundle(sim.CAPEM()))
		if err != nil {
			t.Fatal(err)
		}
		id, err := other.Register(ctx, bitrix.BotParams{Code: "theirs", EventHandler: "https://other.example.com/events",
			Properties: bitrix.BotProperties{Name: "Theirs"}})
		if err != nil {
			t.Fatal(err)
		}
		bot := chatBot(ns, "theirs", "acme", "theirs")
		bot.Spec.Adopt = &b24v1.Adopt{ID: int64(id)}
		create(t, bot)
		assertStalled(t, bot, b24v1.ReasonCodeTaken)
		if bot.Status.BotID != 0 {
			t.Errorf("status.botId %d: another application's bot must not be recorded as this ChatBot's", bot.Status.BotID)
		}
		if rb, _ := remoteBot(sim, "theirs"); rb.Properties.Name != "Theirs" || rb.Handlers.MessageAdd != "https://other.example.com/events" {
			t.Fatalf("remote bot %+v, want it left to its application", rb)
		}
	})

	run("a V2 bot named by adopt.id is observed with zero writes, then taken over in place", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		webhookPortal(t, ns, "acme", "acme-bots", sim)
		rb, err := remoteClient(t, sim).RegisterV2(ctx, bitrix.BotV2Params{Code: "by-hand-v2", EventMode: bitrix.EventModeFetch,
			Properties: bitrix.BotV2Properties{Name: "Made by hand"}})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		bot := chatBotV2(ns, "support", "acme", "by-hand-v2")
		bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		bot.Spec.Adopt = &b24v1.Adopt{ID: int64(rb.ID)}
		create(t, bot)
		waitReady(t, bot)
		poke(t, bot)
		if bot.Status.BotID != int64(rb.ID) || bot.Status.API != b24v1.BotAPIV2 {
			t.Fatalf("status botId %d api %q, want the adopted V2 bot %d", bot.Status.BotID, bot.Status.API, rb.ID)
		}
		v2Writes := func() int {
			return countV2(sim, "register") + countV2(sim, "update") + countV2(sim, "unregister") + botWrites(sim)
		}
		if n := v2Writes(); n != 0 {
			t.Fatalf("%d bot writes for an ObserveOnly V2 bot, want 0", n)
		}

		update(t, bot, func() { bot.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyFull) })
		assertInSync(t, bot)
		if bot.Status.BotID != int64(rb.ID) || countV2(sim, "register") != 0 || countV2(sim, "update") == 0 {
			t.Fatalf("after switching to Full: botId %d, %d register, %d update; want bot %d updated in place",
				bot.Status.BotID, countV2(sim, "register"), countV2(sim, "update"), rb.ID)
		}
		waitRemoteBot(t, sim, "by-hand-v2", "the spec's name and webhook applied to the adopted bot", func(b bitrixtest.Bot) bool {
			return b.ID == rb.ID && b.Properties.Name == "Bot support"
		})
	})

	run("a chat app named by adopt.id is observed with zero writes, then taken over in place", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		id, err := remoteClient(t, sim).AppRegister(ctx, bitrix.AppParams{BotID: int(bot.Status.BotID), Code: "help",
			JSMethod: bitrix.JSMethodSend, JSParam: "/old", Context: "ALL", Lang: []bitrix.AppLang{{LanguageID: "en", Title: "Old"}}})
		if err != nil {
			t.Fatal(err)
		}
		apps := len(sim.Apps())
		sim.ResetCalls()
		app := jsApp(ns, "help", "support", "help")
		app.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		app.Spec.Adopt = &b24v1.Adopt{ID: int64(id)}
		create(t, app)
		waitReady(t, app)
		poke(t, app)
		if app.Status.AppID != int64(id) {
			t.Fatalf("status.appId %d, want the adopted app %d", app.Status.AppID, id)
		}
		if synced := meta.FindStatusCondition(app.Status.Conditions, b24v1.ConditionSynced); synced == nil || synced.Status != metav1.ConditionFalse || !strings.Contains(synced.Message, "never applied") {
			t.Fatalf("Synced %+v, want False saying the adopted app was never applied", synced)
		}
		if n := appWrites(sim); n != 0 {
			t.Fatalf("%d app writes for an ObserveOnly app, want 0: %v", n, methodsCalled(sim))
		}

		update(t, app, func() { app.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyFull) })
		assertInSync(t, app)
		if got := remoteApp(t, sim, int64(id)); app.Status.AppID != int64(id) || got.JSParam != "/help" || len(sim.Apps()) != apps {
			t.Fatalf("after switching to Full: appId %d, remote %+v, %d apps (was %d); want app %d updated in place",
				app.Status.AppID, got, len(sim.Apps()), apps, id)
		}
		if c := sim.CallCount("imbot.app.register"); c != 0 {
			t.Errorf("%d imbot.app.register on the takeover, want 0 (the update is the existence check)", c)
		}
	})

	run("an observed chat app makes zero writes through a spec change and deletion", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		id, err := remoteClient(t, sim).AppRegister(ctx, bitrix.AppParams{BotID: int(bot.Status.BotID), Code: "help",
			JSMethod: bitrix.JSMethodSend, JSParam: "/old", Context: "ALL", Lang: []bitrix.AppLang{{LanguageID: "en", Title: "Old"}}})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		app := jsApp(ns, "help", "support", "help")
		app.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		app.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyDelete)
		app.Spec.Adopt = &b24v1.Adopt{ID: int64(id)}
		create(t, app)
		waitReady(t, app)
		update(t, app, func() { app.Spec.JSCommand.Param = "/changed" })
		waitReady(t, app)
		poke(t, app)
		deleteObject(t, app)
		waitGone(t, app)
		if n := appWrites(sim); n != 0 {
			t.Fatalf("%d app writes through a spec change and deletion of an ObserveOnly app, want 0: %v", n, methodsCalled(sim))
		}
		if got := remoteApp(t, sim, int64(id)); got.JSParam != "/old" {
			t.Fatalf("remote JS_PARAM %q, want the app left as it was", got.JSParam)
		}
	})

	run("an ObserveOnly chat app without adopt.id is reported NotFound, pointing at adopt.id", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		sim.ResetCalls()
		app := jsApp(ns, "help", "support", "help")
		app.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		create(t, app)
		waitReason(t, app, metav1.ConditionFalse, b24v1.ReasonDependencyNotReady, 30*time.Second)
		poke(t, app)
		if synced := meta.FindStatusCondition(app.Status.Conditions, b24v1.ConditionSynced); synced == nil || synced.Reason != b24v1.SyncedReasonNotFound || !strings.Contains(synced.Message, "spec.adopt.id") {
			t.Fatalf("Synced %+v, want NotFound naming spec.adopt.id", synced)
		}
		if n := appWrites(sim); n != 0 {
			t.Fatalf("%d app writes, want 0", n)
		}
	})
}

// TestChatObserveOnlyWritesNothing pins ObserveOnly on a Chat found by its entity: a spec
// change (title, users) and the deletion make no write, whatever deletionPolicy says.
func TestChatObserveOnlyWritesNothing(t *testing.T) {
	run := perSimCases(t, managerOpts{})
	run("an observed chat makes zero writes through a spec change and deletion", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		id, err := remoteClient(t, sim).ChatAdd(context.Background(), bitrix.ChatAddParams{
			BotID: int(bot.Status.BotID), Title: "Incidents", Users: []int{1}, EntityType: "OPS", EntityID: "incidents"})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		ch := groupChat(ns, "incidents", "support", 1)
		ch.Spec.Entity = &b24v1.ChatEntity{Type: "OPS", ID: "incidents"}
		ch.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		ch.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyDelete)
		create(t, ch)
		waitReady(t, ch)
		if ch.Status.ChatID != int64(id) {
			t.Fatalf("status.chatId %d, want the chat %d found by its entity", ch.Status.ChatID, id)
		}
		update(t, ch, func() { ch.Spec.Title = ptr("Renamed"); ch.Spec.Users = []int64{1, 2} })
		waitReady(t, ch)
		poke(t, ch)
		if synced := meta.FindStatusCondition(ch.Status.Conditions, b24v1.ConditionSynced); synced == nil || synced.Status != metav1.ConditionFalse {
			t.Fatalf("Synced %+v, want False after the spec change", synced)
		}
		deleteObject(t, ch)
		waitGone(t, ch)
		if w := writeCalls(sim); len(w) != 0 {
			t.Fatalf("writes for an ObserveOnly chat through a spec change and deletion: %v", w)
		}
		if got := remoteChat(t, sim, int64(id)); got.Title != "Incidents" || !slices.Contains(got.Members, int(bot.Status.BotID)) {
			t.Fatalf("remote chat %+v, want it left as it was with the bot in it", got)
		}
	})
}
