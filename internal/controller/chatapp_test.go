package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/managed"
)

// ---- helpers shared by chatapp_test.go, chat_test.go and chat_bench_test.go ----

// perSimCases starts one manager for a test and returns a runner of subtests, each with its
// own simulator and namespace.
func perSimCases(t *testing.T, mo managerOpts) func(name string, f func(t *testing.T, ns string, sim *bitrixtest.Server)) {
	run := subtests(t, mo)
	return func(name string, f func(t *testing.T, ns string, sim *bitrixtest.Server)) {
		run(name, func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			f(t, ns, sim)
		})
	}
}

// portalWithBot creates a webhook Portal on the simulator and a registered ChatBot "support".
func portalWithBot(t *testing.T, ns string, sim *bitrixtest.Server) *b24v1.ChatBot {
	t.Helper()
	webhookPortal(t, ns, "acme", "acme-bots", sim)
	bot := chatBot(ns, "support", "acme", "support")
	create(t, bot)
	waitReady(t, bot)
	return bot
}

// remoteClient is a Bitrix24 client of the same application as the Portal, for changing the
// portal behind the operator's back.
func remoteClient(t *testing.T, sim *bitrixtest.Server) *bitrix.Client {
	t.Helper()
	c, err := bitrix.New(bitrix.WithWebhook(sim.AddWebhook(1, "behind"+uniqueToken()), "acme-bots"), bitrix.WithCABundle(sim.CAPEM()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// methodsCalled lists the methods the simulator logged, in order (batch commands included).
func methodsCalled(sim *bitrixtest.Server) []string {
	var out []string
	for _, c := range sim.Calls() {
		out = append(out, c.Method)
	}
	return out
}

func jsApp(ns, name, bot, code string) *b24v1.ChatApp {
	return &b24v1.ChatApp{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.ChatAppSpec{
			BotRef:       b24v1.LocalObjectReference{Name: bot},
			Code:         code,
			JSCommand:    &b24v1.JSCommand{Method: "Send", Param: "/help"},
			Translations: []b24v1.Translation{{Language: "en", Title: "Help", Description: "Send /help", Copyright: "ACME"}},
		},
	}
}

func remoteApp(t *testing.T, sim *bitrixtest.Server, id int64) bitrixtest.App {
	t.Helper()
	for _, a := range sim.Apps() {
		if int64(a.ID) == id {
			return a
		}
	}
	t.Fatalf("app %d not on the simulator (apps: %+v)", id, sim.Apps())
	return bitrixtest.App{}
}

// ---- tests ----

func TestChatApp(t *testing.T) {
	// Each case has its own simulator and namespace; one manager serves them all.
	run := perSimCases(t, managerOpts{})

	run("a JS command app is registered for its bot with every field mapped", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		icon := []byte("\x89PNG icon bytes")
		create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "help-icon"}, BinaryData: map[string][]byte{"icon.png": icon}})
		app := jsApp(ns, "help", "support", "help")
		app.Spec.Icon = &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: "help-icon", Key: "icon.png"}}
		app.Spec.Context, app.Spec.AdminOnly, app.Spec.LivechatSupport = ptr("Bot"), ptr(true), ptr(true)
		create(t, app)
		waitReady(t, app)
		assertInSync(t, app)

		if app.Status.BotID != bot.Status.BotID || app.Status.AppID == 0 {
			t.Fatalf("status botId %d appId %d, want bot %d and an app id", app.Status.BotID, app.Status.AppID, bot.Status.BotID)
		}
		got := remoteApp(t, sim, app.Status.AppID)
		want := bitrixtest.App{ID: got.ID, BotID: int(bot.Status.BotID), Code: "help", App: "customacme-bots", JSMethod: "SEND", JSParam: "/help",
			Icon: icon, Context: "BOT-admin", LivechatSupport: true,
			Lang: []bitrixtest.Lang{{LanguageID: "en", Title: "Help", Description: "Send /help", Copyright: "ACME"}}}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Fatalf("remote app\n got %+v\nwant %+v", got, want)
		}
		if n := len(sim.Apps()); n != 1 {
			t.Fatalf("%d remote apps, want 1", n)
		}
	})

	run("an app waits for its bot's id and is registered as soon as the bot has one", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		app := jsApp(ns, "early", "support", "early")
		create(t, app)
		waitReason(t, app, metav1.ConditionFalse, b24v1.ReasonDependencyNotReady, 30*time.Second)
		if c := condition(t, app, b24v1.ConditionReady); !strings.Contains(c.Message, "ChatBot support") {
			t.Errorf("Ready message %q does not name the ChatBot", c.Message)
		}
		start := time.Now()
		portalWithBot(t, ns, sim)
		waitReady(t, app)
		// The ChatBot watch brings the app back, not the two-minute safety requeue.
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("app became Ready %s after its bot", d)
		}
	})

	run("an IFRAME app sends its hash and the default size", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		hash := strings.Repeat("ab", 16)
		create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frame-hash", Labels: credentialsLabels}, StringData: map[string]string{"hash": hash + "\n"}})
		app := jsApp(ns, "frame", "support", "frame")
		app.Spec.JSCommand = nil
		app.Spec.Iframe = &b24v1.IframeApp{URL: "https://apps.example.com/frame", HashSecretRef: b24v1.KeyReference{Name: "frame-hash", Key: "hash"}}
		create(t, app)
		waitReady(t, app)
		got := remoteApp(t, sim, app.Status.AppID)
		if got.Iframe != "https://apps.example.com/frame" || got.IframeWidth != 350 || got.IframeHeight != 150 || got.Hash != hash || got.Context != "ALL" {
			t.Fatalf("remote app = %+v, want the frame, 350x150, the hash and context ALL", got)
		}
	})

	run("an IFRAME app whose hash is not 32 characters stalls with a clear message", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frame-hash", Labels: credentialsLabels}, StringData: map[string]string{"hash": "tooshortsecret"}}
		create(t, secret)
		app := jsApp(ns, "frame", "support", "frame")
		app.Spec.JSCommand = nil
		app.Spec.Iframe = &b24v1.IframeApp{URL: "https://apps.example.com/frame", HashSecretRef: b24v1.KeyReference{Name: "frame-hash", Key: "hash"}}
		create(t, app)
		assertStalled(t, app, b24v1.ReasonInvalidSpec)
		msg := condition(t, app, b24v1.ConditionReady).Message
		for _, want := range []string{"frame-hash", "key hash", "exactly 32 characters"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not say %q", msg, want)
			}
		}
		if strings.Contains(msg, "tooshortsecret") || strings.Contains(msg, "14") {
			t.Errorf("message %q echoes the hash or its length", msg)
		}
		if n := sim.CallCount("imbot.app.register"); n != 0 {
			t.Errorf("imbot.app.register called %d times for an invalid hash", n)
		}
		// Fixing the Secret is enough: Secrets an object references are watched.
		update(t, secret, func() { secret.Data = map[string][]byte{"hash": []byte(strings.Repeat("c", 32))} })
		waitReady(t, app)
		assertInSync(t, app)
	})

	run("a forced resync only confirms the app; a spec or icon change sends one update", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		icon := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "icon"}, BinaryData: map[string][]byte{"icon.png": []byte("icon")}}
		create(t, icon)
		app := jsApp(ns, "help", "support", "help")
		app.Spec.Icon = &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: "icon", Key: "icon.png"}}
		create(t, app)
		waitReady(t, app)

		sim.ResetCalls()
		forceReconcile(t, app)
		waitReady(t, app)
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.app.register"}) {
			t.Fatalf("forced resync called %v, want only the imbot.app.register that confirms the app", got)
		}
		if app.Status.LastVerified != nil {
			t.Fatal("status.lastVerified is written: a check that finds the app in place writes nothing")
		}

		sim.ResetCalls()
		update(t, app, func() { app.Spec.Translations[0].Title = "Help me" })
		waitReady(t, app)
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.app.update"}) {
			t.Fatalf("spec change called %v, want one imbot.app.update", got)
		}
		if got := remoteApp(t, sim, app.Status.AppID); got.Lang[0].Title != "Help me" {
			t.Fatalf("remote title %q, want Help me", got.Lang[0].Title)
		}

		// A new icon (the ConfigMap is watched) is applied without confirming the app again:
		// that happens once per resync interval.
		sim.ResetCalls()
		update(t, icon, func() { icon.BinaryData["icon.png"] = []byte("new icon") })
		eventually(t, 30*time.Second, "the new icon", func() (bool, string) {
			got := remoteApp(t, sim, reload(t, app).Status.AppID).Icon
			return string(got) == "new icon", string(got)
		})
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.app.update"}) {
			t.Fatalf("icon change called %v, want one imbot.app.update", got)
		}
	})

	run("an app removed remotely is registered again at the next drift check", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		app := jsApp(ns, "help", "support", "help")
		create(t, app)
		waitReady(t, app)
		old := app.Status.AppID
		if err := remoteClient(t, sim).AppUnregister(context.Background(), int(old)); err != nil {
			t.Fatal(err)
		}

		sim.ResetCalls()
		forceReconcile(t, app)
		waitReady(t, app)
		if app.Status.AppID == old || app.Status.AppID == 0 {
			t.Fatalf("status.appId = %d, want a new id (old %d)", app.Status.AppID, old)
		}
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.app.register", "imbot.app.update"}) {
			t.Fatalf("called %v, want the register that finds the app gone and the update that applies the spec", got)
		}
		remoteApp(t, sim, app.Status.AppID)
		waitEvent(t, app, managed.EventRecreated)
	})

	run("an app follows its bot when the bot is registered again under a new id", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		app := jsApp(ns, "help", "support", "help")
		create(t, app)
		waitReady(t, app)
		oldBot := bot.Status.BotID

		// Deleting the bot on the portal takes its apps along.
		sim.DeleteBotRemotely(int(oldBot))
		if n := len(sim.Apps()); n != 0 {
			t.Fatalf("%d apps left after the bot's deletion", n)
		}
		forceReconcile(t, bot)
		waitReady(t, bot)
		if bot.Status.BotID == oldBot {
			t.Fatalf("bot kept id %d", oldBot)
		}
		eventually(t, 30*time.Second, "the app registered for the new bot", func() (bool, string) {
			reload(t, app)
			apps := sim.Apps()
			return app.Status.BotID == bot.Status.BotID && len(apps) == 1 && int64(apps[0].BotID) == bot.Status.BotID && int64(apps[0].ID) == app.Status.AppID,
				fmt.Sprintf("status botId %d appId %d, remote apps %+v", app.Status.BotID, app.Status.AppID, apps)
		})
		waitReady(t, app)
		waitEvent(t, app, managed.EventRecreated)
	})

	run("deletion unregisters the app", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		app := jsApp(ns, "help", "support", "help")
		create(t, app)
		waitReady(t, app)
		deleteObject(t, app)
		waitGone(t, app)
		if n := len(sim.Apps()); n != 0 {
			t.Fatalf("%d remote apps after deletion, want 0", n)
		}
	})

	run("deletion with deletionPolicy Orphan leaves the app registered", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		app := jsApp(ns, "help", "support", "help")
		app.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
		create(t, app)
		waitReady(t, app)
		deleteObject(t, app)
		waitGone(t, app)
		if n := len(sim.Apps()); n != 1 || sim.CallCount("imbot.app.unregister") != 0 {
			t.Fatalf("%d remote apps and %d unregister calls, want the app left alone", n, sim.CallCount("imbot.app.unregister"))
		}
	})

	run("deletion of an app that is already gone remotely completes", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		app := jsApp(ns, "help", "support", "help")
		create(t, app)
		waitReady(t, app)
		// The bot (and with it the app) is deleted on the portal; the ChatBot does not know yet.
		sim.DeleteBotRemotely(int(bot.Status.BotID))
		deleteObject(t, app)
		waitGone(t, app)
	})
}
