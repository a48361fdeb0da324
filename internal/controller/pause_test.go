package controller_test

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

func unpause(t *testing.T, obj controllerObject) {
	t.Helper()
	update(t, obj, func() {
		a := obj.GetAnnotations()
		delete(a, b24v1.PausedAnnotation)
		obj.SetAnnotations(a)
	})
}

// TestPause pins b24ops.io/paused against the simulator's call log: no remote call at all over
// a resync and a spec change, the change applied on resume, and a deletion that still
// unregisters the bot.
func TestPause(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	run := subtests(t, managerOpts{})

	run("a paused Portal and ChatBot make no remote call; resuming applies the change; deletion still unregisters", func(t *testing.T, ns string) {
		portal := webhookPortal(t, ns, "acme", "pause-app", sim)
		bot := chatBot(ns, "support", "acme", "pause-support")
		create(t, bot)
		waitReady(t, portal)
		waitReady(t, bot)

		annotate(t, portal, b24v1.PausedAnnotation, "true")
		annotate(t, bot, b24v1.PausedAnnotation, "true")
		waitReason(t, portal, metav1.ConditionTrue, b24v1.ReasonPaused, 30*time.Second)
		waitReason(t, bot, metav1.ConditionTrue, b24v1.ReasonPaused, 30*time.Second)
		sim.ResetCalls()

		update(t, bot, func() { bot.Spec.Properties.Name = ptr("Renamed while paused") })
		poke(t, portal)
		poke(t, bot)
		if calls := sim.Calls(); len(calls) != 0 {
			t.Fatalf("%d remote calls while paused, want none: %+v", len(calls), calls)
		}
		// The generation is observed (kstatus reads the paused bot as current) and the change waits.
		checkKstatus(t, bot)
		if rb, _ := remoteBot(sim, "pause-support"); rb.Properties.Name == "Renamed while paused" {
			t.Fatal("the spec change reached the portal while paused")
		}
		waitEvent(t, bot, managed.EventPaused)

		unpause(t, portal)
		unpause(t, bot)
		waitReady(t, bot)
		if rb, _ := remoteBot(sim, "pause-support"); rb.Properties.Name != "Renamed while paused" {
			t.Fatalf("remote name %q after resume, want the change applied", rb.Properties.Name)
		}
		waitEvent(t, bot, managed.EventResumed)

		annotate(t, bot, b24v1.PausedAnnotation, "true")
		waitReason(t, bot, metav1.ConditionTrue, b24v1.ReasonPaused, 30*time.Second)
		deleteObject(t, bot)
		waitGone(t, bot)
		if rb, ok := remoteBot(sim, "pause-support"); ok {
			t.Fatalf("bot %+v still registered: a pause must not block deletion (deletionPolicy Delete)", rb)
		}
	})

	run("a ChatBot paused from its creation makes no call, holds no finalizer and goes at once", func(t *testing.T, ns string) {
		portal := webhookPortal(t, ns, "acme", "pause-new-app", sim)
		waitReady(t, portal)
		sim.ResetCalls()
		bot := chatBot(ns, "fresh", "acme", "pause-fresh")
		bot.Annotations = map[string]string{b24v1.PausedAnnotation: "true"}
		create(t, bot)
		waitReason(t, bot, metav1.ConditionFalse, b24v1.ReasonPaused, 30*time.Second)
		poke(t, bot)
		if n := len(callsWithCode(sim, "pause-fresh")); n != 0 {
			t.Fatalf("%d calls with the paused bot's CODE, want none", n)
		}
		if controllerutil.ContainsFinalizer(reload(t, bot), b24v1.Finalizer) {
			t.Fatal("a paused bot that never reached the portal holds the finalizer")
		}
		deleteObject(t, bot)
		waitGone(t, bot)
		if _, ok := remoteBot(sim, "pause-fresh"); ok {
			t.Fatalf("a bot was registered for %s", bot.Name)
		}
	})
}

// TestPauseDependents pins b24ops.io/paused on the kinds that act through a bot, and what a
// paused Portal means for its bots: a paused ChatApp or Chat makes no remote call over a
// forced drift check and a spec change, and its deletion still removes it remotely. A paused
// Portal stops only its own checks (scope, app.info): its ChatBots keep being reconciled
// through its credentials, since a pause freezes the object it is set on, not what refers to it.
func TestPauseDependents(t *testing.T) {
	run := perSimCases(t, managerOpts{})

	run("a paused ChatApp makes no call; its spec change waits; deletion still unregisters it", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		app := jsApp(ns, "help", "support", "help")
		create(t, app)
		waitReady(t, app)
		annotate(t, app, b24v1.PausedAnnotation, "true")
		waitReason(t, app, metav1.ConditionTrue, b24v1.ReasonPaused, 30*time.Second)
		sim.ResetCalls()
		update(t, app, func() { app.Spec.JSCommand.Param = "/changed" })
		poke(t, app)
		if calls := sim.Calls(); len(calls) != 0 {
			t.Fatalf("%d remote calls for a paused ChatApp, want none: %v", len(calls), methodsCalled(sim))
		}
		checkKstatus(t, app)
		if got := remoteApp(t, sim, app.Status.AppID); got.JSParam != "/help" {
			t.Fatalf("remote JS_PARAM %q: the spec change reached the portal while paused", got.JSParam)
		}
		deleteObject(t, app)
		waitGone(t, app)
		if sim.CallCount("imbot.app.unregister") != 1 || len(sim.Apps()) != 0 {
			t.Fatalf("%d imbot.app.unregister, apps left %+v: a pause must not block deletion", sim.CallCount("imbot.app.unregister"), sim.Apps())
		}
	})

	run("a paused Chat makes no call; its title change waits; deletion still makes the bot leave", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		ch := groupChat(ns, "incidents", "support", 1)
		ch.Spec.OwnerID = ptr(int64(1))
		create(t, ch)
		waitReady(t, ch)
		annotate(t, ch, b24v1.PausedAnnotation, "true")
		waitReason(t, ch, metav1.ConditionTrue, b24v1.ReasonPaused, 30*time.Second)
		sim.ResetCalls()
		update(t, ch, func() { ch.Spec.Title = ptr("Renamed while paused") })
		poke(t, ch)
		if calls := sim.Calls(); len(calls) != 0 {
			t.Fatalf("%d remote calls for a paused Chat, want none: %v", len(calls), methodsCalled(sim))
		}
		if got := remoteChat(t, sim, ch.Status.ChatID); got.Title != "Incidents" {
			t.Fatalf("remote title %q: the spec change reached the portal while paused", got.Title)
		}
		deleteObject(t, ch)
		waitGone(t, ch)
		if got := remoteChat(t, sim, ch.Status.ChatID); slices.Contains(got.Members, int(bot.Status.BotID)) {
			t.Fatalf("bot %d still in chat %d (members %v): a pause must not block deletion", bot.Status.BotID, got.ID, got.Members)
		}
	})

	run("a paused Portal makes no call of its own, and its ChatBots keep being reconciled", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		portal := &b24v1.Portal{}
		portal.Namespace, portal.Name = ns, "acme"
		annotate(t, portal, b24v1.PausedAnnotation, "true")
		waitReason(t, portal, metav1.ConditionTrue, b24v1.ReasonPaused, 30*time.Second)
		sim.ResetCalls()
		poke(t, portal)
		for _, m := range []string{"scope", "app.info"} {
			if n := sim.CallCount(m); n != 0 {
				t.Fatalf("%d %s calls for a paused Portal, want none", n, m)
			}
		}
		update(t, bot, func() { bot.Spec.Properties.Name = ptr("Renamed under a paused Portal") })
		assertInSync(t, bot)
		if rb, _ := remoteBot(sim, "support"); rb.Properties.Name != "Renamed under a paused Portal" {
			t.Fatalf("remote name %q: a ChatBot of a paused Portal must still be reconciled", rb.Properties.Name)
		}
	})
}

// TestPauseScheduledJob pins b24ops.io/paused on a ScheduledJob: a one-shot job paused from
// its creation sends nothing over a forced reconcile; removing the annotation sends it once.
func TestPauseScheduledJob(t *testing.T) {
	sim := metabottest.NewServer()
	t.Cleanup(sim.Close)
	ns, _, _ := startTest(t, managerOpts{})
	mb, _ := mbBot(t, ns, "sales", sim, 21, false)
	waitReady(t, mb)
	j := mbOneShot(ns, "welcome", "sales", 4242)
	j.Annotations = map[string]string{b24v1.PausedAnnotation: "true"}
	create(t, j)
	waitReason(t, j, metav1.ConditionFalse, b24v1.ReasonPaused, 30*time.Second)
	poke(t, j)
	if n := mbJobsFor(sim, 4242); n != 0 {
		t.Fatalf("%d Metabot jobs sent for a paused ScheduledJob, want none", n)
	}
	unpause(t, j)
	mbWaitJobs(t, sim, 4242, 1)
	waitReady(t, j)
}
