package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

func groupChat(ns, name, bot string, users ...int64) *b24v1.Chat {
	return &b24v1.Chat{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       b24v1.ChatSpec{BotRef: b24v1.LocalObjectReference{Name: bot}, Title: ptr("Incidents"), Users: users},
	}
}

func remoteChat(t *testing.T, sim *bitrixtest.Server, id int64) bitrixtest.Chat {
	t.Helper()
	ch, ok := sim.Chat(int(id))
	if !ok {
		t.Fatalf("chat %d not on the simulator", id)
	}
	return ch
}

// chatReads are the methods that change nothing on the portal.
var chatReads = map[string]bool{
	"batch": true, "imbot.dialog.get": true, "imbot.chat.user.list": true, "imbot.chat.get": true,
	"imbot.bot.list": true, "scope": true,
}

// writeCalls lists the simulator's calls that may change something, with their argument.
func writeCalls(sim *bitrixtest.Server) []string {
	var out []string
	for _, c := range sim.Calls() {
		if chatReads[c.Method] {
			continue
		}
		s := c.Method
		for _, k := range []string{"TITLE", "COLOR", "USERS", "USER_ID"} {
			if v, ok := c.Params[k]; ok {
				s += fmt.Sprintf(" %s=%v", k, v)
			}
		}
		out = append(out, s)
	}
	return out
}

func TestChat(t *testing.T) {
	run := perSimCases(t, managerOpts{})

	run("a chat is created with every field, the entity defaulting to B24OPS and namespace/name", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		avatar := []byte("\x89PNG avatar")
		create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "incidents-avatar"}, BinaryData: map[string][]byte{"avatar.png": avatar}})
		ch := groupChat(ns, "incidents", "support", 1, 2)
		ch.Spec.Type, ch.Spec.Description, ch.Spec.Color = ptr("Open"), ptr("On-call room"), ptr(b24v1.Color("RED"))
		ch.Spec.WelcomeMessage, ch.Spec.OwnerID = ptr("Welcome!"), ptr(int64(3))
		ch.Spec.Avatar = &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: "incidents-avatar", Key: "avatar.png"}}
		create(t, ch)
		assertInSync(t, ch)

		if ch.Status.ChatID == 0 || ch.Status.BotID != bot.Status.BotID || ch.Status.AvatarHash == "" || ch.Status.LastVerified != nil {
			t.Fatalf("status = %+v, want chatId, the bot's id, avatarHash and no lastVerified (no longer written)", ch.Status)
		}
		got := remoteChat(t, sim, ch.Status.ChatID)
		botID := int(bot.Status.BotID)
		want := bitrixtest.Chat{ID: got.ID, Type: "OPEN", EntityType: "B24OPS", EntityID: ns + "/incidents", Title: "Incidents",
			Description: "On-call room", Color: "RED", Owner: 3, Members: []int{1, 2, 3, botID}, Avatar: avatar,
			BotID: botID, App: "customacme-bots", Message: "Welcome!", Created: got.Created}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Fatalf("remote chat\n got %+v\nwant %+v", got, want)
		}
		if n := sim.CallCount("imbot.chat.add"); n != 1 {
			t.Fatalf("imbot.chat.add called %d times, want 1", n)
		}
	})

	run("a chat that exists for the entity is adopted, not added again", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		id, err := remoteClient(t, sim).ChatAdd(context.Background(), bitrix.ChatAddParams{
			BotID: int(bot.Status.BotID), Title: "Old title", Users: []int{1}, EntityType: "B24OPS", EntityID: ns + "/incidents"})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		ch := groupChat(ns, "incidents", "support", 1)
		create(t, ch)
		assertInSync(t, ch)
		if ch.Status.ChatID != int64(id) {
			t.Fatalf("status.chatId = %d, want the existing chat %d", ch.Status.ChatID, id)
		}
		if got := writeCalls(sim); !slices.Equal(got, []string{"imbot.chat.updateTitle TITLE=Incidents"}) {
			t.Fatalf("write calls %v, want only the title update", got)
		}
	})

	run("a no-op resync reads the chat and writes nothing", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		ch := groupChat(ns, "incidents", "support", 1, 2)
		ch.Spec.Color, ch.Spec.OwnerID = ptr(b24v1.Color("MINT")), ptr(int64(1))
		create(t, ch)
		assertInSync(t, ch)

		sim.ResetCalls()
		forceReconcile(t, ch)
		assertInSync(t, ch)
		called := methodsCalled(sim)
		for _, m := range called {
			if !chatReads[m] {
				t.Errorf("forced resync called %s (all calls: %v)", m, called)
			}
		}
		if !slices.Contains(called, "imbot.dialog.get") || !slices.Contains(called, "imbot.chat.user.list") {
			t.Errorf("forced resync called %v, want the chat read back", called)
		}
	})

	run("the drift checks of many chats share batch requests", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		const n = 50
		var chats []*b24v1.Chat
		for i := range n {
			ch := groupChat(ns, fmt.Sprintf("chat-%02d", i), "support", 1)
			create(t, ch)
			chats = append(chats, ch)
		}
		for _, ch := range chats {
			assertInSync(t, ch)
		}

		sim.ResetCalls()
		values := make([]string, n)
		for i, ch := range chats {
			values[i] = requestReconcile(t, ch)
		}
		for i, ch := range chats {
			waitReconciled(t, ch, values[i])
		}
		// The 100 reads fit in 2 batches; how many it takes depends on how the reconciles come
		// together (on a busy machine they come apart), but never one request per chat.
		if reads, batches := sim.CallCount("imbot.dialog.get"), sim.CallCount("batch"); reads != n || batches >= n/2 {
			t.Fatalf("%d dialog reads in %d batch requests, want %d reads in a few batches", reads, batches, n)
		}
		if got := writeCalls(sim); len(got) != 0 {
			t.Fatalf("write calls %v, want none", got)
		}
	})

	run("members added and removed in the spec are added and removed remotely, and nothing else is called", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		ch := groupChat(ns, "incidents", "support", 1, 2, 3)
		ch.Spec.OwnerID = ptr(int64(1))
		create(t, ch)
		assertInSync(t, ch)

		sim.ResetCalls()
		update(t, ch, func() { ch.Spec.Users = []int64{1, 3, 4, 5} })
		assertInSync(t, ch)
		want := []string{"imbot.chat.user.add USERS=[4 5]", "imbot.chat.user.delete USER_ID=2"}
		if got := writeCalls(sim); !slices.Equal(got, want) {
			t.Fatalf("write calls %v, want %v", got, want)
		}
		if got := remoteChat(t, sim, ch.Status.ChatID).Members; !slices.Equal(got, []int{1, 3, 4, 5, int(bot.Status.BotID)}) {
			t.Fatalf("remote members %v", got)
		}

		// The owner and the bot stay even when the spec leaves them out.
		sim.ResetCalls()
		update(t, ch, func() { ch.Spec.Users = []int64{4} })
		assertInSync(t, ch)
		want = []string{"imbot.chat.user.delete USER_ID=3", "imbot.chat.user.delete USER_ID=5"}
		if got := writeCalls(sim); !slices.Equal(got, want) {
			t.Fatalf("write calls %v, want %v", got, want)
		}
		if got := remoteChat(t, sim, ch.Status.ChatID).Members; !slices.Equal(got, []int{1, 4, int(bot.Status.BotID)}) {
			t.Fatalf("remote members %v, want the owner, user 4 and the bot", got)
		}
	})

	run("title, colour and avatar changes send only those updates", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "avatar"}, BinaryData: map[string][]byte{"a.png": []byte("one")}}
		create(t, cm)
		ch := groupChat(ns, "incidents", "support", 1)
		ch.Spec.Color = ptr(b24v1.Color("RED"))
		ch.Spec.Avatar = &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: "avatar", Key: "a.png"}}
		create(t, ch)
		assertInSync(t, ch)

		sim.ResetCalls()
		update(t, ch, func() { ch.Spec.Title, ch.Spec.Color = ptr("Outages"), ptr(b24v1.Color("LIGHT_BLUE")) })
		assertInSync(t, ch)
		want := []string{"imbot.chat.updateTitle TITLE=Outages", "imbot.chat.updateColor COLOR=LIGHT_BLUE"}
		if got := writeCalls(sim); !slices.Equal(got, want) {
			t.Fatalf("write calls %v, want %v", got, want)
		}

		// A new avatar in the ConfigMap is sent: the ConfigMap is watched.
		sim.ResetCalls()
		hash := ch.Status.AvatarHash
		update(t, cm, func() { cm.BinaryData["a.png"] = []byte("two") })
		eventually(t, 30*time.Second, "the new avatar", func() (bool, string) {
			got := remoteChat(t, sim, reload(t, ch).Status.ChatID).Avatar
			return string(got) == "two" && ch.Status.AvatarHash != hash, string(got)
		})
		if got := writeCalls(sim); !slices.Equal(got, []string{"imbot.chat.updateAvatar"}) {
			t.Fatalf("write calls %v, want one avatar update", got)
		}
	})

	run("drift on the portal is corrected at a forced resync", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		ch := groupChat(ns, "incidents", "support", 1)
		create(t, ch)
		assertInSync(t, ch)
		sim.SetChatTitle(int(ch.Status.ChatID), "Renamed by hand")
		sim.AddChatMember(int(ch.Status.ChatID), 99)

		sim.ResetCalls()
		forceReconcile(t, ch)
		assertInSync(t, ch)
		want := []string{"imbot.chat.updateTitle TITLE=Incidents", "imbot.chat.user.delete USER_ID=99"}
		if got := writeCalls(sim); !slices.Equal(got, want) {
			t.Fatalf("write calls %v, want %v", got, want)
		}
	})

	run("setting ownerId hands the chat over from the bot", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		ch := groupChat(ns, "incidents", "support", 1, 2)
		create(t, ch)
		assertInSync(t, ch)
		if o := remoteChat(t, sim, ch.Status.ChatID).Owner; o != int(bot.Status.BotID) {
			t.Fatalf("owner %d, want the bot", o)
		}
		sim.ResetCalls()
		update(t, ch, func() { ch.Spec.OwnerID = ptr(int64(2)) })
		assertInSync(t, ch)
		if got := writeCalls(sim); !slices.Equal(got, []string{"imbot.chat.setOwner USER_ID=2"}) {
			t.Fatalf("write calls %v, want one setOwner", got)
		}
	})

	run("a chat the bot was removed from stalls with a message that says so", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		ch := groupChat(ns, "incidents", "support", 1)
		ch.Spec.OwnerID = ptr(int64(1))
		create(t, ch)
		assertInSync(t, ch)
		if err := remoteClient(t, sim).ChatUserDelete(context.Background(), int(bot.Status.BotID), int(ch.Status.ChatID), int(bot.Status.BotID)); err != nil {
			t.Fatal(err)
		}
		sim.ResetCalls()
		requestReconcile(t, ch)
		assertStalled(t, ch, b24v1.ReasonRemoteError)
		if msg := condition(t, ch, b24v1.ConditionReady).Message; !strings.Contains(msg, "not a member") {
			t.Errorf("message %q", msg)
		}
		if got := writeCalls(sim); len(got) != 0 {
			t.Fatalf("write calls %v, want none", got)
		}
	})

	// Deletion: the bot leaves, handing the chat over first when it owns it.
	for _, tc := range []struct {
		name   string
		chat   func(ns string) *b24v1.Chat
		before func(t *testing.T, ch *b24v1.Chat, sim *bitrixtest.Server, bot *b24v1.ChatBot)
		writes []string
		// botStays: the bot is still a member afterwards.
		botStays bool
		// owner owns the chat afterwards: a user id, 0 for the bot, -1 for not checked.
		owner int
		event string
	}{{
		name: "deletion: the bot leaves a chat that ownerId owns",
		chat: func(ns string) *b24v1.Chat {
			ch := groupChat(ns, "incidents", "support", 1, 2)
			ch.Spec.OwnerID = ptr(int64(2))
			return ch
		},
		writes: []string{"imbot.chat.leave"}, owner: 2,
	}, {
		name:   "deletion: without ownerId the bot hands its chat to the first of users, then leaves",
		chat:   func(ns string) *b24v1.Chat { return groupChat(ns, "incidents", "support", 3, 4) },
		writes: []string{"imbot.chat.setOwner USER_ID=3", "imbot.chat.leave"}, owner: 3,
	}, {
		name: "deletion: with neither ownerId nor users the bot stays and a Warning says so",
		chat: func(ns string) *b24v1.Chat { return groupChat(ns, "incidents", "support", 3) },
		before: func(t *testing.T, ch *b24v1.Chat, _ *bitrixtest.Server, _ *b24v1.ChatBot) {
			update(t, ch, func() { ch.Spec.Users = nil })
			assertInSync(t, ch)
		},
		botStays: true, event: "BotStaysInChat",
	}, {
		name: "deletion with deletionPolicy Orphan leaves the chat alone",
		chat: func(ns string) *b24v1.Chat {
			ch := groupChat(ns, "incidents", "support", 3)
			ch.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
			return ch
		},
		botStays: true,
	}, {
		name: "deletion completes when the bot is already gone",
		chat: func(ns string) *b24v1.Chat { return groupChat(ns, "incidents", "support", 3) },
		before: func(t *testing.T, _ *b24v1.Chat, sim *bitrixtest.Server, bot *b24v1.ChatBot) {
			sim.DeleteBotRemotely(int(bot.Status.BotID))
		},
		owner: -1,
	}} {
		run(tc.name, func(t *testing.T, ns string, sim *bitrixtest.Server) {
			bot := portalWithBot(t, ns, sim)
			botID := int(bot.Status.BotID)
			ch := tc.chat(ns)
			create(t, ch)
			assertInSync(t, ch)
			if tc.before != nil {
				tc.before(t, ch, sim, bot)
			}
			sim.ResetCalls()
			deleteObject(t, ch)
			waitGone(t, ch)
			if got := writeCalls(sim); !slices.Equal(got, tc.writes) {
				t.Fatalf("write calls %v, want %v", got, tc.writes)
			}
			remote := remoteChat(t, sim, ch.Status.ChatID)
			if member := slices.Contains(remote.Members, botID); member != tc.botStays {
				t.Errorf("bot in the chat afterwards: %v, want %v (members %v)", member, tc.botStays, remote.Members)
			}
			if want := tc.owner; want >= 0 {
				if want == 0 {
					want = botID
				}
				if remote.Owner != want {
					t.Errorf("owner afterwards %d, want %d (the bot is %d)", remote.Owner, want, botID)
				}
			}
			if tc.event != "" {
				e := waitEvent(t, ch, tc.event)
				if e.Type != corev1.EventTypeWarning {
					t.Errorf("%s event type %s, want Warning", tc.event, e.Type)
				}
			}
		})
	}
}

// A crash between imbot.chat.add and the status write that records the chat id: the next
// manager finds the chat by its entity instead of adding a second one.
func TestChatCrashBetweenAddAndStatusWriteLeavesOneChat(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()

	var failed atomic.Int32
	crashing := statusCrash(func(ch *b24v1.Chat) bool { return ch.Status.ChatID != 0 }, &failed)
	ns, _, stop1 := startTest(t, managerOpts{newClient: crashing})
	portalWithBot(t, ns, sim)
	ch := groupChat(ns, "incidents", "support", 1, 2)
	create(t, ch)

	eventually(t, 30*time.Second, "the add whose status write fails", func() (bool, string) {
		return failed.Load() > 0 && len(sim.Chats()) > 0, fmt.Sprintf("failed writes %d, remote chats %d", failed.Load(), len(sim.Chats()))
	})
	stop1()
	if id := reload(t, ch).Status.ChatID; id != 0 {
		t.Fatalf("status.chatId = %d after the failed write, want 0", id)
	}

	startManager(t, managerOpts{})
	assertInSync(t, ch)
	chats := sim.Chats()
	if len(chats) != 1 {
		t.Fatalf("remote chats = %+v, want exactly one", chats)
	}
	if int64(chats[0].ID) != ch.Status.ChatID {
		t.Fatalf("status.chatId = %d, want the remote chat's id %d", ch.Status.ChatID, chats[0].ID)
	}
	if n := sim.CallCount("imbot.chat.add"); n != 1 {
		t.Fatalf("imbot.chat.add called %d times, want 1", n)
	}
}
