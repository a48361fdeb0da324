package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/outbound"
	"github.com/b24ops/b24-operator/internal/rules"
)

// The controller suite runs without the webhook: what these tests show holds for objects that
// skipped admission (a ChatBot created before its Portal, creates spread over replicas).

// twoTeams starts a manager and gives a test two namespaces, one per team.
func twoTeams(t *testing.T) (nsA, nsB string) {
	t.Helper()
	nsA, _, stop := startTest(t, managerOpts{})
	nsB = namespace(t)
	purgeAfter(t, stop, nsB)
	return nsA, nsB
}

// A second namespace inside one application must never take over, re-bind or unregister the
// bot another namespace holds, whatever order the objects were created in: the later object
// is refused by the controller and makes no remote write.
func TestControllerIsTheAuthorityForCodes(t *testing.T) {
	for _, order := range []struct {
		name string
		// intruderFirst creates team B's ChatBot (before its Portal) ahead of team A's objects.
		intruderFirst bool
	}{
		{"team B's ChatBot created before its Portal, after team A's bot registered", false},
		{"team B's ChatBot created first of all, its Portal last", true},
	} {
		t.Run(order.name, func(t *testing.T) {
			nsA, nsB := twoTeams(t)
			sim := bitrixtest.NewServer()
			defer sim.Close()
			intruder := chatBot(nsB, "copy", "acme", "support")
			intruder.Spec.Properties.Name = ptr("Taken over")
			intruder.Spec.EventHandler = ptr(b24v1.HTTPSURL("https://team-b.example.com/steal"))
			if order.intruderFirst {
				create(t, intruder)
			}
			webhookPortal(t, nsA, "acme", "shared-app", sim)
			mine := chatBot(nsA, "support", "acme", "support")
			create(t, mine)
			waitReady(t, mine)
			if !order.intruderFirst {
				create(t, intruder)
			}
			// Same application: same host and client id, verified credentials of its own.
			webhookPortal(t, nsB, "acme", "shared-app", sim)

			waitReason(t, intruder, metav1.ConditionFalse, b24v1.ReasonCodeTaken, 30*time.Second)
			msg := readyMessage(intruder)
			if !strings.Contains(msg, "an object in another namespace") || strings.Contains(msg, nsA) {
				t.Errorf("message %q should name the holder only as an object in another namespace", msg)
			}
			if reload(t, intruder).Status.BotID != 0 {
				t.Errorf("the refused ChatBot recorded bot %d", intruder.Status.BotID)
			}
			assertHeld := func() {
				t.Helper()
				rb, ok := remoteBot(sim, "support")
				if !ok {
					t.Fatal("team A's bot is gone")
				}
				if rb.ID != int(reload(t, mine).Status.BotID) || rb.Properties.Name != "Bot support" || rb.Handlers.MessageAdd != "https://bots.example.com/events" {
					t.Fatalf("team A's bot was taken over: %+v", rb)
				}
			}
			assertHeld()

			// Deleting the refused object leaves team A's bot registered and in sync.
			deleteObject(t, intruder)
			waitGone(t, intruder)
			assertHeld()
			forceReconcile(t, mine)
			waitReady(t, mine)
		})
	}
}

// Two objects that came to record the same remote bot (adopted before the controller checked
// codes): the later one is refused, and deleting it does not unregister the bot.
func TestDeletingALaterHolderLeavesTheBot(t *testing.T) {
	nsA, nsB := twoTeams(t)
	sim := bitrixtest.NewServer()
	defer sim.Close()
	webhookPortal(t, nsA, "acme", "shared-app", sim)
	mine := chatBot(nsA, "support", "acme", "support")
	create(t, mine)
	waitReady(t, mine)
	id := reload(t, mine).Status.BotID

	// Team B's object as an operator without the check left it: the same bot id recorded.
	webhookPortal(t, nsB, "acme", "shared-app", sim)
	copyBot := chatBot(nsB, "copy", "acme", "support")
	copyBot.Finalizers = []string{b24v1.Finalizer}
	create(t, copyBot)
	app := reload(t, mine).Status.ApplicationKey
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh := reload(t, copyBot)
		fresh.Status.BotID, fresh.Status.API, fresh.Status.ApplicationKey = id, b24v1.BotAPIV1, app
		return env.Client.Status().Update(context.Background(), fresh)
	}); err != nil {
		t.Fatal(err)
	}
	forceReconcile(t, copyBot)
	// Both recorded: the older object (by creation time, then namespace and name) holds it.
	earlier, later := reload(t, mine), reload(t, copyBot)
	if rules.HoldsBefore(later, earlier) {
		earlier, later = later, earlier
	}
	forceReconcile(t, later)
	waitReason(t, later, metav1.ConditionFalse, b24v1.ReasonCodeTaken, 30*time.Second)
	deleteObject(t, later)
	waitGone(t, later)
	if rb, ok := remoteBot(sim, "support"); !ok || rb.ID != int(id) {
		t.Fatalf("deleting the later holder unregistered the bot (%+v, found %v)", rb, ok)
	}
	if n := sim.CallCount("imbot.unregister"); n != 0 {
		t.Errorf("imbot.unregister was called %d times", n)
	}
	forceReconcile(t, earlier)
	waitReady(t, earlier)
}

// A bot not yet registered whose V1 handlers differ from its application's is refused before
// it re-binds the handlers of every bot of the application (another team's included).
func TestControllerIsTheAuthorityForHandlers(t *testing.T) {
	nsA, nsB := twoTeams(t)
	sim := bitrixtest.NewServer()
	defer sim.Close()
	webhookPortal(t, nsA, "acme", "shared-app", sim)
	mine := chatBot(nsA, "support", "acme", "support")
	create(t, mine)
	waitReady(t, mine)

	other := chatBot(nsB, "sales", "acme", "sales")
	other.Spec.EventHandler = ptr(b24v1.HTTPSURL("https://team-b.example.com/steal"))
	create(t, other)
	webhookPortal(t, nsB, "acme", "shared-app", sim)
	waitReason(t, other, metav1.ConditionFalse, b24v1.ReasonInvalidSpec, 30*time.Second)
	msg := readyMessage(other)
	if !strings.Contains(msg, "one set of event handlers per application") || strings.Contains(msg, "bots.example.com") || strings.Contains(msg, nsA) {
		t.Errorf("message %q should explain the rule without telling team A's URLs or namespace", msg)
	}
	if _, ok := remoteBot(sim, "sales"); ok {
		t.Error("the refused bot was registered")
	}
	if rb, _ := remoteBot(sim, "support"); rb.Handlers.MessageAdd != "https://bots.example.com/events" {
		t.Errorf("team A's handlers were re-bound to %q", rb.Handlers.MessageAdd)
	}
}

// madeUpPortal is a Portal on the simulator's host whose webhook URL the portal does not know.
func madeUpPortal(t *testing.T, ns, name, clientID string, sim *bitrixtest.Server, mutate ...func(*b24v1.Portal)) *b24v1.Portal {
	t.Helper()
	return portalWithHook(t, ns, name, clientID, sim.URL+"/rest/1/madeup"+name+"/", sim, mutate...)
}

// A Portal with made-up credentials declares another team's application: it never gets
// verified, and its ChatBots use up none of the limit and squat no code.
func TestUnverifiedPortalDisturbsNoOne(t *testing.T) {
	nsA, nsB := twoTeams(t)
	sim := bitrixtest.NewServer()
	defer sim.Close()
	fake := madeUpPortal(t, nsB, "fake", "shared-app", sim, func(p *b24v1.Portal) { p.Spec.MaxBots = ptr(int32(1)) })
	squat := chatBot(nsB, "squat", "fake", "support")
	create(t, squat)
	eventually(t, 30*time.Second, "the made-up Portal refused", func() (bool, string) {
		c := condition(t, fake, b24v1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason != b24v1.ReasonProgressing, "no refusal yet"
	})
	if k := reload(t, fake).Status.VerifiedApplicationKey; k != "" {
		t.Fatalf("a Portal with made-up credentials is verified for %q", k)
	}

	p := webhookPortal(t, nsA, "acme", "shared-app", sim, func(p *b24v1.Portal) { p.Spec.MaxBots = ptr(int32(1)) })
	waitReady(t, p)
	if k := reload(t, p).Status.VerifiedApplicationKey; k != rules.ApplicationKey(p) {
		t.Fatalf("status.verifiedApplicationKey %q, want %q", k, rules.ApplicationKey(p))
	}
	mine := chatBot(nsA, "support", "acme", "support")
	create(t, mine)
	waitReady(t, mine)
}

// A portal answering a 100 KB error_description still gets a Ready condition: the remote text
// is cut to one line of at most 200 characters, so the status write stays far under the API
// server's limit for a condition message.
func TestHugeRemoteErrorReachesStatus(t *testing.T) {
	ns, _, _ := startTest(t, managerOpts{})
	sim := bitrixtest.NewServer()
	defer sim.Close()
	const marker = "BEGIN-DESCRIPTION "
	huge := marker + strings.Repeat("the portal is broken\n\t", 100*1024/22)
	sim.InjectFault("scope", bitrixtest.Fault{Times: -1, Status: 400, Code: "INTERNAL_SERVER_ERROR", Description: huge})
	p := webhookPortal(t, ns, "acme", "huge-app", sim)
	var msg string
	eventually(t, 30*time.Second, "a Ready=False condition with the remote error", func() (bool, string) {
		c := condition(t, p, b24v1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, marker) {
			return false, "no condition with the remote error yet"
		}
		msg = c.Message
		return true, ""
	})
	if strings.ContainsAny(msg, "\n\r\t") {
		t.Errorf("message is not one line: %q", msg)
	}
	remote := msg[strings.Index(msg, marker):]
	if n := utf8.RuneCountInString(remote); n > outbound.MaxMessageRunes {
		t.Errorf("the remote text in the message is %d characters, want at most %d", n, outbound.MaxMessageRunes)
	}
	if n := utf8.RuneCountInString(msg); n > 2*outbound.MaxMessageRunes {
		t.Errorf("message is %d characters: %q", n, msg)
	}
	if reload(t, p).Status.VerifiedApplicationKey != "" {
		t.Error("a Portal whose check fails is verified")
	}
}

// One Chat per entity on a portal, enforced by the controller too (a Chat created before its
// ChatBot or Portal skipped admission): another namespace's Chat with the entity is refused,
// never takes over the chat, and leaves nothing when deleted.
func TestControllerIsTheAuthorityForChatEntities(t *testing.T) {
	nsA, nsB := twoTeams(t)
	sim := bitrixtest.NewServer()
	defer sim.Close()
	incidents := &b24v1.ChatEntity{Type: "OPS", ID: "incidents"}
	webhookPortal(t, nsA, "acme", "shared-app", sim)
	botA := chatBot(nsA, "support", "acme", "support")
	mine := groupChat(nsA, "incidents", "support", 1)
	mine.Spec.Entity = incidents
	create(t, botA, mine)
	assertInSync(t, mine)
	id := reload(t, mine).Status.ChatID

	theirs := groupChat(nsB, "war-room", "sales", 2)
	theirs.Spec.Entity = incidents
	create(t, theirs)
	webhookPortal(t, nsB, "acme", "shared-app", sim)
	create(t, chatBot(nsB, "sales", "acme", "sales"))
	waitReason(t, theirs, metav1.ConditionFalse, b24v1.ReasonInvalidSpec, 30*time.Second)
	msg := readyMessage(theirs)
	if !strings.Contains(msg, "an object in another namespace") || strings.Contains(msg, nsA) || strings.Contains(msg, "Chat incidents") {
		t.Errorf("message %q should name the holder only as an object in another namespace", msg)
	}
	if got := reload(t, theirs).Status.ChatID; got != 0 {
		t.Errorf("the refused Chat recorded chat %d", got)
	}
	before := remoteChat(t, sim, id)
	deleteObject(t, theirs)
	waitGone(t, theirs)
	after := remoteChat(t, sim, id)
	if after.Owner != before.Owner || len(after.Members) != len(before.Members) {
		t.Errorf("deleting the refused Chat changed team A's chat: %+v -> %+v", before, after)
	}
	forceReconcile(t, mine)
	assertInSync(t, mine)
}
