package controller_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
)

// ---- helpers shared by chatapp_test.go, chat_test.go and chat_bench_test.go ----

// perSimCases starts one manager for a test and returns a runner of subtests, each with its
// own simulator and namespace.
func perSimCases(t *testing.T, mo managerOpts) func(name string, f func(t *testing.T, ns string, sim *bitrixtest.Server)) {
	_, stop := startManager(t, mo)
	return func(name string, f func(t *testing.T, ns string, sim *bitrixtest.Server)) {
		t.Run(name, func(st *testing.T) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			f(st, caseNamespace(st, t, stop), sim)
		})
	}
}

// caseNamespace makes a namespace named after the (sub)test and purges it when parent ends.
func caseNamespace(t, parent *testing.T, stop func()) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	name = strings.Trim(name[:min(40, len(name))], "-")
	ns, err := env.CreateNamespace(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	purgeOnCleanup(parent, stop, ns)
	return ns
}

// purgeOnCleanup stops the manager when t ends, then strips the finalizers of the objects in
// the namespaces and deletes them, so no later manager reconciles them against a closed
// simulator.
func purgeOnCleanup(t *testing.T, stop func(), namespaces ...string) {
	t.Cleanup(func() {
		stop()
		ctx := context.Background()
		for _, ns := range namespaces {
			for _, l := range []client.ObjectList{&b24v1.ChatList{}, &b24v1.ChatAppList{}, &b24v1.ChatBotList{}, &b24v1.PortalList{}, &corev1.SecretList{}, &corev1.ConfigMapList{}} {
				if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
					continue
				}
				_ = meta.EachListItem(l, func(o runtime.Object) error {
					obj := o.(client.Object)
					if len(obj.GetFinalizers()) > 0 {
						p := client.MergeFrom(obj.DeepCopyObject().(client.Object))
						obj.SetFinalizers(nil)
						_ = env.Client.Patch(ctx, obj, p)
					}
					return nil
				})
			}
			_ = env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})
}

// modify re-reads obj, applies change and writes it, retrying on conflicts.
func modify(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatalf("get %s: %v", obj.GetName(), err)
		}
		change()
		err := env.Client.Update(ctx, obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || i > 20 {
			t.Fatalf("update %s: %v", obj.GetName(), err)
		}
	}
}

var tokenCounter atomic.Int64

// uniqueToken is a value no other test uses.
func uniqueToken() string {
	return fmt.Sprintf("%x%04x", time.Now().UnixNano(), tokenCounter.Add(1))
}

// requestReconcile sets b24ops.io/reconcile-requested-at to a new value and returns it.
func requestReconcile(t *testing.T, obj client.Object) string {
	t.Helper()
	value := uniqueToken()
	modify(t, obj, func() {
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[b24v1.ReconcileRequestedAtAnnotation] = value
		obj.SetAnnotations(a)
	})
	return value
}

// waitReconciled waits until the status records the reconcile requested with value.
func waitReconciled(t *testing.T, obj controllerObject, value string) {
	t.Helper()
	eventually(t, 30*time.Second, obj.GetName()+" handled reconcile request "+value, func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		return obj.CommonStatus().LastHandledReconcileAt == value, obj.CommonStatus().LastHandledReconcileAt
	})
}

// assertInSync checks kstatus polarity on a Ready object: Ready=True for the current
// generation, observedGeneration equal to generation, no Reconciling or Stalled.
func assertInSync(t *testing.T, obj controllerObject) {
	t.Helper()
	waitReady(t, obj)
	st := obj.CommonStatus()
	if st.ObservedGeneration != obj.GetGeneration() {
		t.Errorf("%s: status.observedGeneration = %d, want %d", obj.GetName(), st.ObservedGeneration, obj.GetGeneration())
	}
	for _, typ := range []string{b24v1.ConditionReconciling, b24v1.ConditionStalled} {
		if c := meta.FindStatusCondition(st.Conditions, typ); c != nil {
			t.Errorf("%s: condition %s present while Ready: %+v", obj.GetName(), typ, c)
		}
	}
}

// assertStalledWith checks Ready=False with the reason, Stalled=True, Reconciling absent.
func assertStalledWith(t *testing.T, obj controllerObject, reason string) {
	t.Helper()
	waitReason(t, obj, metav1.ConditionFalse, reason, 30*time.Second)
	st := obj.CommonStatus()
	if c := meta.FindStatusCondition(st.Conditions, b24v1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue || c.Reason != reason {
		t.Errorf("%s: Stalled = %+v, want True with reason %s", obj.GetName(), c, reason)
	}
	if c := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReconciling); c != nil {
		t.Errorf("%s: Reconciling present while stalled: %+v", obj.GetName(), c)
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

// eventsOf lists the Events about an object of the kind.
func eventsOf(t *testing.T, obj client.Object, kind string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() && e.Regarding.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitKindEvent waits for an Event with the reason about an object of the kind.
func waitKindEvent(t *testing.T, obj client.Object, kind, reason string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	eventually(t, 15*time.Second, fmt.Sprintf("event %s on %s %s", reason, kind, obj.GetName()), func() (bool, string) {
		var reasons []string
		for _, e := range eventsOf(t, obj, kind) {
			if e.Reason == reason {
				found = e
				return true, ""
			}
			reasons = append(reasons, e.Reason)
		}
		return false, "events: " + strings.Join(reasons, ", ")
	})
	return found
}

// methodsCalled lists the methods the simulator logged, in order (batch commands included).
func methodsCalled(sim *bitrixtest.Server) []string {
	var out []string
	for _, c := range sim.Calls() {
		out = append(out, c.Method)
	}
	return out
}

// waitGone waits until the object no longer exists.
func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	eventually(t, 30*time.Second, obj.GetName()+" gone", func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err), fmt.Sprintf("finalizers %v", obj.GetFinalizers())
	})
}

func deleteObject(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), obj); err != nil {
		t.Fatalf("delete %s: %v", obj.GetName(), err)
	}
}

// statusCrash fails every status write of an object of type T that fail selects, counting
// them: the manager behaves as if it crashed between the remote call and the status write,
// and never gets to record what it did.
func statusCrash[T client.Object](fail func(T) bool, failed *atomic.Int32) func(client.Client) client.Client {
	return func(c client.Client) client.Client {
		return interceptor.NewClient(noWatch{c}, interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if o, ok := obj.(T); ok && sub == "status" && fail(o) {
					failed.Add(1)
					return errors.New("simulated crash before the status write")
				}
				return c.Status().Patch(ctx, obj, patch, opts...)
			},
		})
	}
}

// noWatch lets interceptor wrap the manager's client, which has no Watch.
type noWatch struct{ client.Client }

func (noWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("watch not supported")
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

func getApp(t *testing.T, a *b24v1.ChatApp) *b24v1.ChatApp {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(a), a); err != nil {
		t.Fatal(err)
	}
	return a
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
		create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frame-hash"}, StringData: map[string]string{"hash": hash + "\n"}})
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
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frame-hash"}, StringData: map[string]string{"hash": "tooshortsecret"}}
		create(t, secret)
		app := jsApp(ns, "frame", "support", "frame")
		app.Spec.JSCommand = nil
		app.Spec.Iframe = &b24v1.IframeApp{URL: "https://apps.example.com/frame", HashSecretRef: b24v1.KeyReference{Name: "frame-hash", Key: "hash"}}
		create(t, app)
		assertStalledWith(t, app, b24v1.ReasonInvalidSpec)
		msg := condition(t, app, b24v1.ConditionReady).Message
		for _, want := range []string{"frame-hash", "key hash", "exactly 32 characters"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not say %q", msg, want)
			}
		}
		if strings.Contains(msg, "tooshortsecret") {
			t.Errorf("message %q echoes the hash", msg)
		}
		if n := sim.CallCount("imbot.app.register"); n != 0 {
			t.Errorf("imbot.app.register called %d times for an invalid hash", n)
		}
		// Fixing the Secret is enough: Secrets an object references are watched.
		modify(t, secret, func() { secret.Data = map[string][]byte{"hash": []byte(strings.Repeat("c", 32))} })
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
		waitReconciled(t, app, requestReconcile(t, app))
		waitReady(t, app)
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.app.register"}) {
			t.Fatalf("forced resync called %v, want only the imbot.app.register that confirms the app", got)
		}
		if app.Status.LastVerified == nil {
			t.Fatal("status.lastVerified not set")
		}

		sim.ResetCalls()
		modify(t, app, func() { app.Spec.Translations[0].Title = "Help me" })
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
		modify(t, icon, func() { icon.BinaryData["icon.png"] = []byte("new icon") })
		eventually(t, 30*time.Second, "the new icon", func() (bool, string) {
			got := remoteApp(t, sim, getApp(t, app).Status.AppID).Icon
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
		waitReconciled(t, app, requestReconcile(t, app))
		waitReady(t, app)
		if app.Status.AppID == old || app.Status.AppID == 0 {
			t.Fatalf("status.appId = %d, want a new id (old %d)", app.Status.AppID, old)
		}
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.app.register", "imbot.app.update"}) {
			t.Fatalf("called %v, want the register that finds the app gone and the update that applies the spec", got)
		}
		remoteApp(t, sim, app.Status.AppID)
		waitKindEvent(t, app, "ChatApp", controller.EventRecreated)
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
		waitReconciled(t, bot, requestReconcile(t, bot))
		waitReady(t, bot)
		if bot.Status.BotID == oldBot {
			t.Fatalf("bot kept id %d", oldBot)
		}
		eventually(t, 30*time.Second, "the app registered for the new bot", func() (bool, string) {
			getApp(t, app)
			apps := sim.Apps()
			return app.Status.BotID == bot.Status.BotID && len(apps) == 1 && int64(apps[0].BotID) == bot.Status.BotID && int64(apps[0].ID) == app.Status.AppID,
				fmt.Sprintf("status botId %d appId %d, remote apps %+v", app.Status.BotID, app.Status.AppID, apps)
		})
		waitReady(t, app)
		waitKindEvent(t, app, "ChatApp", controller.EventRecreated)
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
