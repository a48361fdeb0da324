package controller_test

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// secretIdentityPortal is webhookPortal with the webhook identity kept in the Secret (key
// clientId) instead of spec.
func secretIdentityPortal(t testing.TB, ns, name, clientID string, sim *bitrixtest.Server) *b24v1.Portal {
	t.Helper()
	hook := sim.AddWebhook(1, "code"+name)
	create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-webhook", Labels: credentialsLabels},
			StringData: map[string]string{"webhookURL": hook, "clientId": clientID}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}},
	)
	p := &b24v1.Portal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.PortalSpec{
			URL:      sim.URL,
			Auth:     b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{SecretRef: b24v1.LocalObjectReference{Name: name + "-webhook"}}},
			CABundle: &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name + "-ca", Key: "ca.crt"}},
		},
	}
	create(t, p)
	return p
}

// setSecretData merges data into the Portal's webhook Secret.
func setSecretData(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	update(t, s, func() {
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
	})
}

// botsOfApp lists the simulator's bots of one application ("custom"+token), by id.
func botsOfApp(sim *bitrixtest.Server, app string) []bitrixtest.Bot {
	var out []bitrixtest.Bot
	for _, b := range sim.Bots() {
		if b.App == app {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// waitRotated waits until every bot is Ready under the application key and the simulator holds
// exactly the bots with the ids given, all owned by app: nothing lost, nothing duplicated.
func waitRotated(t *testing.T, sim *bitrixtest.Server, app, key string, ids map[string]int64, bots ...*b24v1.ChatBot) {
	t.Helper()
	for _, b := range bots {
		waitReady(t, b)
		eventually(t, 30*time.Second, b.Name+" recorded under the new application key", func() (bool, string) {
			reload(t, b)
			return b.Status.ApplicationKey == key && b.Status.BotID == ids[b.Name], fmt.Sprintf("key %q, botId %d (was %d)", b.Status.ApplicationKey, b.Status.BotID, ids[b.Name])
		})
	}
	all := sim.Bots()
	if len(all) != len(bots) {
		t.Fatalf("%d remote bots, want %d: %+v", len(all), len(bots), all)
	}
	for _, rb := range all {
		if rb.App != app {
			t.Errorf("remote bot %d (%s) belongs to %q, want %q", rb.ID, rb.Code, rb.App, app)
		}
	}
	for _, b := range bots {
		if rb, ok := remoteBot(sim, b.Spec.Code); !ok || int64(rb.ID) != ids[b.Name] || rb.API != bitrixtest.APIV2 {
			t.Errorf("remote bot of %s = %+v (found %v), want the same v2 bot %d", b.Name, rb, ok, ids[b.Name])
		}
	}
}

// A change of the webhook identity in spec moves every V2 bot onto the new token. Here the
// manager crashes halfway (bots rotated remotely whose status write never happened), one bot
// is left for later (paused), and the next manager's first rotation loses its answer: the end
// is every bot under the new token, with the same ids, none registered again.
func TestChatBotV2TokenRotationFinishesAfterACrashHalfway(t *testing.T) {
	sim := bitrixtest.NewServer(bitrixtest.WithSharedTokenRotation())
	defer sim.Close()
	oldID, newID := "rot-old-"+uniqueToken()[:8], "rot-new-"+uniqueToken()[:8]

	ns, _, stop1 := startTest(t, managerOpts{})
	portal := webhookPortal(t, ns, "acme", oldID, sim)
	var bots []*b24v1.ChatBot
	ids := map[string]int64{}
	for i := range 4 {
		b := chatBotV2(ns, fmt.Sprintf("bot-%d", i), "acme", fmt.Sprintf("rot-%d", i))
		create(t, b)
		bots = append(bots, b)
	}
	for _, b := range bots {
		waitReady(t, b)
		ids[b.Name] = b.Status.BotID
	}
	waitReady(t, portal)
	stop1()
	// bot-3 waits out the first manager.
	annotate(t, bots[3], b24v1.PausedAnnotation, "true")

	// The crashing manager records bot-0's rotation and loses the status write of every other.
	var failed atomic.Int32
	newKey := rulesKey(sim.URL, newID)
	crashing := statusCrash(func(b *b24v1.ChatBot) bool {
		return b.Status.ApplicationKey == newKey && b.Name != "bot-0"
	}, &failed)
	_, stop2 := startManager(t, managerOpts{newClient: crashing})
	registers := countV2(sim, "register")
	update(t, portal, func() { portal.Spec.Auth.Webhook.ClientID = newID })
	eventually(t, 30*time.Second, "bot-0 rotated and another rotation whose status write failed", func() (bool, string) {
		reload(t, bots[0])
		return bots[0].Status.ApplicationKey == newKey && failed.Load() > 0, fmt.Sprintf("bot-0 key %q, failed writes %d", bots[0].Status.ApplicationKey, failed.Load())
	})
	stop2()
	if n := len(botsOfApp(sim, "custom"+oldID)); n == 0 {
		t.Fatal("no bot left under the old token: the paused bot was rotated")
	}

	// The next manager: its first rotation runs but the answer is lost.
	sim.InjectFault("imbot.v2.Bot.update", bitrixtest.FaultDrop())
	startManager(t, managerOpts{})
	annotate(t, bots[3], b24v1.PausedAnnotation, "")
	waitRotated(t, sim, "custom"+newID, newKey, ids, bots...)
	if n := countV2(sim, "register"); n != registers {
		t.Errorf("%d Bot.register calls during the rotation, want none", n-registers)
	}
	waitReady(t, portal)
	eventually(t, 30*time.Second, "the Portal's message without bots left to rotate", func() (bool, string) {
		reload(t, portal)
		msg := readyMessage(portal)
		return !strings.Contains(msg, "previous one"), msg
	})
	if portal.Status.ApplicationKey != newKey {
		t.Errorf("Portal status.applicationKey = %q, want %q", portal.Status.ApplicationKey, newKey)
	}
	if n := sim.EventGetCount(); n != 0 {
		t.Errorf("the operator called imbot.v2.Event.get %d times", n)
	}
}

func rulesKey(url, clientID string) string {
	return strings.TrimPrefix(url, "https://") + "/" + clientID
}

func TestChatBotV2SecretIdentity(t *testing.T) {
	shared := bitrixtest.NewServer(bitrixtest.WithSharedTokenRotation())
	defer shared.Close()
	strict := bitrixtest.NewServer()
	defer strict.Close()
	logs := &logBuffer{}
	run := subtests(t, managerOpts{logs: logs})
	// Every identity the cases use: none may reach the manager's log.
	var tokens []string
	token := func() string { tok := uniqueToken(); tokens = append(tokens, tok); return tok }

	cases := []struct {
		name string
		run  func(t *testing.T, ns string)
	}{
		{"an identity in the Secret registers V2 bots and appears nowhere in status or events; rotating it through previousClientId moves every bot", func(t *testing.T, ns string) {
			tokA, tokB := token(), token()
			p := secretIdentityPortal(t, ns, "acme", tokA, shared)
			one, two := chatBotV2(ns, "one", "acme", "sec-one"), chatBotV2(ns, "two", "acme", "sec-two")
			fetch := chatBotV2(ns, "fetch", "acme", "sec-fetch")
			fetch.Spec.EventHandler = nil
			create(t, one, two, fetch)
			ids := map[string]int64{}
			for _, b := range []*b24v1.ChatBot{one, two, fetch} {
				waitReady(t, b)
				ids[b.Name] = b.Status.BotID
			}
			waitReady(t, p)
			keyA := p.Status.ApplicationKey
			if !strings.Contains(keyA, "/sha256:") || strings.Contains(keyA, tokA) {
				t.Fatalf("Portal status.applicationKey = %q, want a fingerprint without the identity", keyA)
			}
			if n := len(botsOfApp(shared, "custom"+tokA)); n != 3 {
				t.Fatalf("%d bots under the Secret's identity, want 3", n)
			}

			setSecretData(t, ns, "acme-webhook", map[string]string{"clientId": tokB, "previousClientId": tokA})
			eventually(t, 30*time.Second, "the Portal's new application key", func() (bool, string) {
				reload(t, p)
				return p.Status.ApplicationKey != keyA && p.Status.ApplicationKey != "", p.Status.ApplicationKey
			})
			waitRotated(t, shared, "custom"+tokB, p.Status.ApplicationKey, ids, one, two, fetch)
			eventually(t, 30*time.Second, "the Portal saying previousClientId can go", func() (bool, string) {
				reload(t, p)
				msg := readyMessage(p)
				return strings.Contains(msg, "previousClientId can be removed"), msg
			})
			for _, obj := range []controllerObject{p, one, two, fetch} {
				reload(t, obj)
				for _, c := range obj.CommonStatus().Conditions {
					if strings.Contains(c.Message, tokA) || strings.Contains(c.Message, tokB) {
						t.Errorf("%s condition %s tells the identity: %q", obj.GetName(), c.Type, c.Message)
					}
				}
				for _, e := range recordedEvents(t, obj) {
					if strings.Contains(e.Note, tokA) || strings.Contains(e.Note, tokB) {
						t.Errorf("%s event %s tells the identity: %q", obj.GetName(), e.Reason, e.Note)
					}
				}
			}
		}},
		{"a bot deleted while still under the previous identity is unregistered with that token", func(t *testing.T, ns string) {
			tokA, tokB := token(), token()
			p := secretIdentityPortal(t, ns, "acme", tokA, shared)
			b := chatBotV2(ns, "late", "acme", "sec-late")
			create(t, b)
			waitReady(t, b)
			annotate(t, b, b24v1.PausedAnnotation, "true")
			waitReason(t, b, metav1.ConditionTrue, b24v1.ReasonPaused, 30*time.Second)
			setSecretData(t, ns, "acme-webhook", map[string]string{"clientId": tokB, "previousClientId": tokA})
			eventually(t, 30*time.Second, "the Portal naming the bot left to rotate", func() (bool, string) {
				reload(t, p)
				msg := readyMessage(p)
				return strings.Contains(msg, "still registered under a previous one: late"), msg
			})
			deleteObject(t, b)
			waitGone(t, b)
			if _, ok := remoteBot(shared, "sec-late"); ok {
				t.Error("the bot is still on the portal")
			}
		}},
		{"a portal that allows one bot per token: the second bot stalls under the old token, none lost", func(t *testing.T, ns string) {
			tokA, tokB := token(), token()
			secretIdentityPortal(t, ns, "acme", tokA, strict)
			one, two := chatBotV2(ns, "one", "acme", "strict-one"), chatBotV2(ns, "two", "acme", "strict-two")
			create(t, one, two)
			waitReady(t, one)
			waitReady(t, two)
			setSecretData(t, ns, "acme-webhook", map[string]string{"clientId": tokB, "previousClientId": tokA})
			var moved, stalled *b24v1.ChatBot
			eventually(t, 30*time.Second, "one bot rotated and one refused", func() (bool, string) {
				moved, stalled = nil, nil
				for _, b := range []*b24v1.ChatBot{one, two} {
					reload(t, b)
					if c := readyMessage(b); strings.Contains(c, "BOT_TOKEN_ROTATION_FAILED") {
						stalled = b
					} else if rb, _ := remoteBot(strict, b.Spec.Code); rb.App == "custom"+tokB {
						moved = b
					}
				}
				return moved != nil && stalled != nil, fmt.Sprintf("moved %v, stalled %v", moved != nil, stalled != nil)
			})
			assertStalled(t, stalled, b24v1.ReasonRemoteError)
			if rb, ok := remoteBot(strict, stalled.Spec.Code); !ok || rb.App != "custom"+tokA || int64(rb.ID) != stalled.Status.BotID {
				t.Errorf("refused bot remotely = %+v (found %v), want it still under the old token", rb, ok)
			}
			if n := len(strict.Bots()); n != 2 {
				t.Errorf("%d remote bots, want 2", n)
			}
		}},
		{"a V2 bot on a Secret identity over 40 characters stalls with InvalidSpec, not telling it", func(t *testing.T, ns string) {
			long := strings.Repeat("s", 41)
			secretIdentityPortal(t, ns, "acme", long, shared)
			b := chatBotV2(ns, "support", "acme", "sec-long")
			create(t, b)
			assertStalled(t, b, b24v1.ReasonInvalidSpec)
			if msg := readyMessage(b); !strings.Contains(msg, "40 characters") || !strings.Contains(msg, "key clientId") || strings.Contains(msg, long) {
				t.Errorf("message %q must name the 40-character rule and the Secret key, not the token", msg)
			}
			if _, ok := remoteBot(shared, "sec-long"); ok {
				t.Error("a bot was registered")
			}
		}},
		{"the identity both in spec and in the Secret stalls the Portal with InvalidSpec", func(t *testing.T, ns string) {
			tok := token()
			p := webhookPortal(t, ns, "acme", "spec-id", shared)
			setSecretData(t, ns, "acme-webhook", map[string]string{"clientId": tok})
			assertStalled(t, p, b24v1.ReasonInvalidSpec)
			if msg := readyMessage(p); !strings.Contains(msg, "exactly one") || strings.Contains(msg, tok) {
				t.Errorf("message %q must ask for exactly one place and not tell the identity", msg)
			}
		}},
		{"a V1 bot whose Portal moved to another identity stalls, saying V1 bots cannot move", func(t *testing.T, ns string) {
			tokA, tokB := token(), token()
			secretIdentityPortal(t, ns, "acme", tokA, shared)
			b := chatBot(ns, "legacy", "acme", "sec-v1")
			create(t, b)
			waitReady(t, b)
			setSecretData(t, ns, "acme-webhook", map[string]string{"clientId": tokB, "previousClientId": tokA})
			assertStalled(t, b, b24v1.ReasonInvalidSpec)
			if msg := readyMessage(b); !strings.Contains(msg, "V1 bot cannot move") {
				t.Errorf("message %q does not say a V1 bot cannot move", msg)
			}
			if rb, ok := remoteBot(shared, "sec-v1"); !ok || rb.App != "custom"+tokA {
				t.Errorf("remote bot = %+v (found %v), want it untouched under the old identity", rb, ok)
			}
		}},
	}
	for _, tc := range cases {
		run(tc.name, tc.run)
	}
	for _, tok := range tokens {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("the manager's log tells a webhook identity")
		}
	}
	for _, s := range []*bitrixtest.Server{shared, strict} {
		if n := s.EventGetCount(); n != 0 {
			t.Errorf("the operator called imbot.v2.Event.get %d times", n)
		}
	}
}
