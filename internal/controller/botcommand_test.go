package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/managed"
)

const commandHandler = "https://bots.example.com/commands"

// botCommand is a command of a V1 bot (with the application's command handler); v2Command
// leaves eventHandler out, as a V2 bot needs.
func botCommand(ns, name, bot, command string) *b24v1.BotCommand {
	return &b24v1.BotCommand{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.BotCommandSpec{
			BotRef:       b24v1.LocalObjectReference{Name: bot},
			Command:      command,
			EventHandler: ptr(b24v1.HTTPSURL(commandHandler)),
			Translations: []b24v1.CommandTranslation{{Language: "en", Title: "Help", Params: "[topic]"}},
		},
	}
}

func v2Command(ns, name, bot, command string) *b24v1.BotCommand {
	c := botCommand(ns, name, bot, command)
	c.Spec.EventHandler = nil
	return c
}

// portalWithV2Bot creates a webhook Portal on the simulator and a registered V2 ChatBot
// "support".
func portalWithV2Bot(t *testing.T, ns string, sim *bitrixtest.Server) *b24v1.ChatBot {
	t.Helper()
	webhookPortal(t, ns, "acme", "acme-bots", sim)
	bot := chatBotV2(ns, "support", "acme", "support")
	create(t, bot)
	waitReady(t, bot)
	if bot.Status.API != b24v1.BotAPIV2 {
		t.Fatalf("bot registered through %q, want V2", bot.Status.API)
	}
	return bot
}

// remoteCommands lists the simulator's commands.
func remoteCommands(sim *bitrixtest.Server) []bitrixtest.Command { return sim.Commands() }

// onlyCommand waits until the simulator holds exactly one command satisfying ok, and returns it.
func onlyCommand(t *testing.T, sim *bitrixtest.Server, what string, ok func(bitrixtest.Command) bool) bitrixtest.Command {
	t.Helper()
	var c bitrixtest.Command
	eventually(t, 30*time.Second, what, func() (bool, string) {
		cmds := remoteCommands(sim)
		if len(cmds) != 1 {
			return false, fmt.Sprintf("%d remote commands: %+v", len(cmds), cmds)
		}
		c = cmds[0]
		return ok(c), fmt.Sprintf("remote command %+v", c)
	})
	return c
}

// commandWrites counts the simulator's calls that change commands, through either API.
func commandWrites(sim *bitrixtest.Server) int {
	n := 0
	for _, m := range []string{"imbot.command.register", "imbot.command.update", "imbot.command.unregister",
		"imbot.v2.Command.register", "imbot.v2.Command.update", "imbot.v2.Command.unregister"} {
		n += sim.CallCount(m)
	}
	return n
}

// commandV2Params is what a user's own code would send to imbot.v2.Command.update.
func commandV2Params(command string, hidden bool) bitrix.CommandV2Params {
	return bitrix.CommandV2Params{Command: command, Hidden: hidden, Title: map[string]string{"en": "Help"}, Params: map[string]string{"en": "[topic]"}}
}

func TestBotCommandV1(t *testing.T) {
	run := perSimCases(t, managerOpts{})

	run("a command is registered with every field, and a forced resync only confirms it", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		cmd := botCommand(ns, "help", "support", "help")
		cmd.Spec.Hidden, cmd.Spec.ExtranetSupport = ptr(true), ptr(true)
		cmd.Spec.Translations = append(cmd.Spec.Translations, b24v1.CommandTranslation{Language: "ru", Title: "Помощь"})
		create(t, cmd)
		assertInSync(t, cmd)
		got := onlyCommand(t, sim, "the command", func(bitrixtest.Command) bool { return true })
		if int64(got.ID) != cmd.Status.CommandID || int64(got.BotID) != bot.Status.BotID || got.API != bitrixtest.APIV1 || got.Command != "help" ||
			got.Common || !got.Hidden || !got.ExtranetSupport || got.Titles["en"] != "Help" || got.Titles["ru"] != "Помощь" || got.Params["en"] != "[topic]" {
			t.Fatalf("remote command %+v, status %+v", got, cmd.Status)
		}
		if h := sim.CommandHandler("customacme-bots"); !strings.HasPrefix(h, commandHandler+"?CLIENT_ID=") {
			t.Errorf("application command handler %q, want %s with CLIENT_ID", h, commandHandler)
		}
		waitEvent(t, cmd, managed.EventCreated)

		sim.ResetCalls()
		forceReconcile(t, cmd)
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.command.register"}) {
			t.Fatalf("forced resync called %v, want only the imbot.command.register that confirms the command", got)
		}
	})

	run("a spec change is sent with imbot.command.update and keeps the id", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		cmd := botCommand(ns, "help", "support", "help")
		create(t, cmd)
		waitReady(t, cmd)
		id := cmd.Status.CommandID
		sim.ResetCalls()
		update(t, cmd, func() { cmd.Spec.Translations = []b24v1.CommandTranslation{{Language: "de", Title: "Hilfe"}} })
		onlyCommand(t, sim, "the new translations remotely", func(c bitrixtest.Command) bool {
			return int64(c.ID) == id && c.Titles["de"] == "Hilfe" && len(c.Titles) == 1
		})
		waitReady(t, cmd)
		if n := sim.CallCount("imbot.command.update"); n == 0 {
			t.Errorf("no imbot.command.update for a spec change")
		}
		if n := sim.CallCount("imbot.command.unregister"); n != 0 {
			t.Errorf("%d unregister calls for a change update can make", n)
		}
	})

	run("a common change unregisters and registers the command again", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		cmd := botCommand(ns, "help", "support", "help")
		create(t, cmd)
		waitReady(t, cmd)
		old := cmd.Status.CommandID
		update(t, cmd, func() { cmd.Spec.Common = ptr(true) })
		got := onlyCommand(t, sim, "a common command", func(c bitrixtest.Command) bool { return c.Common })
		if int64(got.ID) == old {
			t.Fatalf("command kept id %d: COMMON cannot change by imbot.command.update", old)
		}
		eventually(t, 30*time.Second, "status to record the new id", func() (bool, string) {
			reload(t, cmd)
			return cmd.Status.CommandID == int64(got.ID) && cmd.Status.Common, fmt.Sprintf("status %+v", cmd.Status)
		})
		if sim.CallCount("imbot.command.unregister") == 0 {
			t.Error("no imbot.command.unregister")
		}
		waitReady(t, cmd)
	})

	run("a command deleted in the portal comes back after a forced reconcile", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		cmd := botCommand(ns, "help", "support", "help")
		create(t, cmd)
		waitReady(t, cmd)
		old := cmd.Status.CommandID
		if !sim.DeleteCommandRemotely(int(old)) {
			t.Fatal("the command was not on the portal")
		}
		forceReconcile(t, cmd)
		got := onlyCommand(t, sim, "the command registered again", func(c bitrixtest.Command) bool { return int64(c.ID) != old })
		eventually(t, 30*time.Second, "status to record the new id", func() (bool, string) {
			reload(t, cmd)
			return cmd.Status.CommandID == int64(got.ID), fmt.Sprintf("status %+v", cmd.Status)
		})
		waitEvent(t, cmd, managed.EventRecreated)
	})

	run("a command follows its bot when the bot is registered again under a new id", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithBot(t, ns, sim)
		cmd := botCommand(ns, "help", "support", "help")
		create(t, cmd)
		waitReady(t, cmd)
		oldBot := bot.Status.BotID
		sim.DeleteBotRemotely(int(oldBot)) // takes its commands along
		if n := len(remoteCommands(sim)); n != 0 {
			t.Fatalf("%d commands left after the bot's deletion", n)
		}
		forceReconcile(t, bot)
		waitReady(t, bot)
		onlyCommand(t, sim, "the command registered for the new bot", func(c bitrixtest.Command) bool {
			return int64(c.BotID) == reload(t, bot).Status.BotID && c.BotID != int(oldBot)
		})
		eventually(t, 30*time.Second, "status to follow the bot", func() (bool, string) {
			reload(t, cmd)
			return cmd.Status.BotID == bot.Status.BotID, fmt.Sprintf("status %+v", cmd.Status)
		})
		waitReady(t, cmd)
	})

	run("a command name with _ stalls with InvalidSpec naming the V1 rule and makes no call", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		cmd := botCommand(ns, "on-call", "support", "on_call")
		create(t, cmd)
		assertStalled(t, cmd, b24v1.ReasonInvalidSpec)
		if msg := condition(t, cmd, b24v1.ConditionReady).Message; !strings.Contains(msg, "spec.command") || !strings.Contains(msg, "letters and digits") {
			t.Errorf("message %q does not name the field and the rule", msg)
		}
		if n := commandWrites(sim); n != 0 {
			t.Errorf("%d command writes for an invalid name", n)
		}
	})

	run("a second command handler URL in the application stalls, naming the command that holds it", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		first := botCommand(ns, "a-first", "support", "help")
		create(t, first)
		waitReady(t, first)
		second := botCommand(ns, "b-second", "support", "status")
		second.Spec.EventHandler = ptr(b24v1.HTTPSURL("https://elsewhere.example.com/commands"))
		create(t, second)
		assertStalled(t, second, b24v1.ReasonInvalidSpec)
		if msg := condition(t, second, b24v1.ConditionReady).Message; !strings.Contains(msg, "BotCommand a-first") || !strings.Contains(msg, "one command handler per application") {
			t.Errorf("message %q does not name the holder and the rule", msg)
		}
		if n := len(remoteCommands(sim)); n != 1 {
			t.Fatalf("%d remote commands, want only the first", n)
		}
		update(t, second, func() { second.Spec.EventHandler = ptr(b24v1.HTTPSURL(commandHandler)) })
		waitReady(t, second)
	})

	run("an ObserveOnly command of a V1 bot is found through imbot.v2.Command.list with zero writes", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithBot(t, ns, sim)
		was := botCommand(ns, "was-help", "support", "help")
		was.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
		create(t, was)
		waitReady(t, was)
		deleteObject(t, was)
		waitGone(t, was)
		writes := commandWrites(sim)

		cmd := botCommand(ns, "help", "support", "help")
		cmd.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		create(t, cmd)
		waitReady(t, cmd)
		if cmd.Status.CommandID != was.Status.CommandID {
			t.Fatalf("status commandId %d, want the existing command %d", cmd.Status.CommandID, was.Status.CommandID)
		}
		if synced := meta.FindStatusCondition(cmd.Status.Conditions, b24v1.ConditionSynced); synced == nil || synced.Status != metav1.ConditionTrue {
			t.Errorf("Synced = %+v, want True", synced)
		}
		forceReconcile(t, cmd)
		if n := commandWrites(sim) - writes; n != 0 {
			t.Fatalf("%d command writes for an ObserveOnly command", n)
		}
	})

	deletion := []struct {
		name   string
		policy b24v1.DeletionPolicy
		left   int
	}{
		{"deletion with deletionPolicy Delete unregisters the command", b24v1.DeletionPolicyDelete, 0},
		{"deletion with deletionPolicy Orphan leaves the command", b24v1.DeletionPolicyOrphan, 1},
	}
	for _, tc := range deletion {
		run(tc.name, func(t *testing.T, ns string, sim *bitrixtest.Server) {
			portalWithBot(t, ns, sim)
			cmd := botCommand(ns, "help", "support", "help")
			cmd.Spec.DeletionPolicy = ptr(tc.policy)
			create(t, cmd)
			waitReady(t, cmd)
			deleteObject(t, cmd)
			waitGone(t, cmd)
			if n := len(remoteCommands(sim)); n != tc.left {
				t.Fatalf("%d remote commands after deletion, want %d", n, tc.left)
			}
		})
	}
}

func TestBotCommandV2(t *testing.T) {
	run := perSimCases(t, managerOpts{})

	run("a command is registered through imbot.v2 and a forced resync only lists it", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithV2Bot(t, ns, sim)
		cmd := v2Command(ns, "help", "support", "help")
		cmd.Spec.Common = ptr(true)
		cmd.Spec.Translations = append(cmd.Spec.Translations, b24v1.CommandTranslation{Language: "ru", Title: "Помощь", Params: "[тема]"})
		create(t, cmd)
		assertInSync(t, cmd)
		got := onlyCommand(t, sim, "the command", func(bitrixtest.Command) bool { return true })
		if int64(got.ID) != cmd.Status.CommandID || int64(got.BotID) != bot.Status.BotID || got.API != bitrixtest.APIV2 || !got.Common ||
			got.Titles["en"] != "Help" || got.Titles["ru"] != "Помощь" || got.Params["ru"] != "[тема]" {
			t.Fatalf("remote command %+v, status %+v", got, cmd.Status)
		}
		if cmd.Status.API != b24v1.BotAPIV2 || !slices.Equal(cmd.Status.Languages, []string{"en", "ru"}) {
			t.Errorf("status api %q languages %v", cmd.Status.API, cmd.Status.Languages)
		}
		sim.ResetCalls()
		forceReconcile(t, cmd)
		if got := methodsCalled(sim); !slices.Equal(got, []string{"imbot.v2.Command.list"}) {
			t.Fatalf("forced resync called %v, want one imbot.v2.Command.list", got)
		}
	})

	run("a removed language is sent as null and a changed title is updated in place", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithV2Bot(t, ns, sim)
		cmd := v2Command(ns, "help", "support", "help")
		cmd.Spec.Translations = append(cmd.Spec.Translations, b24v1.CommandTranslation{Language: "ru", Title: "Помощь"})
		create(t, cmd)
		waitReady(t, cmd)
		id := cmd.Status.CommandID
		update(t, cmd, func() { cmd.Spec.Translations = []b24v1.CommandTranslation{{Language: "en", Title: "Get help"}} })
		onlyCommand(t, sim, "ru removed and en changed", func(c bitrixtest.Command) bool {
			_, ru := c.Titles["ru"]
			return int64(c.ID) == id && !ru && c.Titles["en"] == "Get help"
		})
		waitReady(t, cmd)
		if n := sim.CallCount("imbot.v2.Command.unregister"); n != 0 {
			t.Errorf("%d unregister calls for an update", n)
		}
	})

	run("a command deleted in the portal comes back after a forced reconcile", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithV2Bot(t, ns, sim)
		cmd := v2Command(ns, "help", "support", "help")
		create(t, cmd)
		waitReady(t, cmd)
		old := cmd.Status.CommandID
		if !sim.DeleteCommandRemotely(int(old)) {
			t.Fatal("the command was not on the portal")
		}
		forceReconcile(t, cmd)
		got := onlyCommand(t, sim, "the command registered again", func(c bitrixtest.Command) bool { return int64(c.ID) != old })
		eventually(t, 30*time.Second, "status to record the new id", func() (bool, string) {
			reload(t, cmd)
			return cmd.Status.CommandID == int64(got.ID), fmt.Sprintf("status %+v", cmd.Status)
		})
		waitEvent(t, cmd, managed.EventRecreated)
	})

	run("a flag changed in the portal is set back after a forced reconcile", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		bot := portalWithV2Bot(t, ns, sim)
		cmd := v2Command(ns, "help", "support", "help")
		create(t, cmd)
		waitReady(t, cmd)
		err := remoteClient(t, sim).CommandUpdateV2(context.Background(), int(bot.Status.BotID), int(cmd.Status.CommandID),
			commandV2Params("help", true), nil)
		if err != nil {
			t.Fatal(err)
		}
		onlyCommand(t, sim, "the command hidden behind the operator's back", func(c bitrixtest.Command) bool { return c.Hidden })
		forceReconcile(t, cmd)
		onlyCommand(t, sim, "the command shown again", func(c bitrixtest.Command) bool { return !c.Hidden })
	})

	run("eventHandler on a command of a V2 bot stalls with InvalidSpec", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithV2Bot(t, ns, sim)
		cmd := botCommand(ns, "help", "support", "help")
		create(t, cmd)
		assertStalled(t, cmd, b24v1.ReasonInvalidSpec)
		if msg := condition(t, cmd, b24v1.ConditionReady).Message; !strings.Contains(msg, "eventHandler is V1 only") {
			t.Errorf("message %q", msg)
		}
		if n := commandWrites(sim); n != 0 {
			t.Errorf("%d command writes", n)
		}
	})

	deletion := []struct {
		name   string
		policy b24v1.DeletionPolicy
		left   int
	}{
		{"deletion with deletionPolicy Delete unregisters the command", b24v1.DeletionPolicyDelete, 0},
		{"deletion with deletionPolicy Orphan leaves the command", b24v1.DeletionPolicyOrphan, 1},
	}
	for _, tc := range deletion {
		run(tc.name, func(t *testing.T, ns string, sim *bitrixtest.Server) {
			portalWithV2Bot(t, ns, sim)
			cmd := v2Command(ns, "help", "support", "help")
			cmd.Spec.DeletionPolicy = ptr(tc.policy)
			create(t, cmd)
			waitReady(t, cmd)
			deleteObject(t, cmd)
			waitGone(t, cmd)
			if n := len(remoteCommands(sim)); n != tc.left {
				t.Fatalf("%d remote commands after deletion, want %d", n, tc.left)
			}
		})
	}

	run("an ObserveOnly command is found by name and observed with zero writes, also on deletion", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		portalWithV2Bot(t, ns, sim)
		was := v2Command(ns, "was-help", "support", "help")
		was.Spec.DeletionPolicy = ptr(b24v1.DeletionPolicyOrphan)
		create(t, was)
		waitReady(t, was)
		deleteObject(t, was)
		waitGone(t, was)
		id := was.Status.CommandID
		writes := commandWrites(sim)

		cmd := v2Command(ns, "help", "support", "help")
		cmd.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyObserveOnly)
		cmd.Spec.Hidden = ptr(true)
		create(t, cmd)
		waitReady(t, cmd)
		if cmd.Status.CommandID != id || cmd.Status.DeletionPolicy != b24v1.DeletionPolicyOrphan {
			t.Fatalf("status %+v, want command %d and deletion policy Orphan", cmd.Status, id)
		}
		synced := meta.FindStatusCondition(cmd.Status.Conditions, b24v1.ConditionSynced)
		if synced == nil || synced.Status != metav1.ConditionFalse || !strings.Contains(synced.Message, "hidden") {
			t.Errorf("Synced = %+v, want False naming hidden", synced)
		}
		forceReconcile(t, cmd)
		deleteObject(t, cmd)
		waitGone(t, cmd)
		if n := commandWrites(sim) - writes; n != 0 {
			t.Fatalf("%d command writes for an ObserveOnly command", n)
		}
		if n := len(remoteCommands(sim)); n != 1 {
			t.Fatalf("%d remote commands, want the observed one left", n)
		}
	})
}

// TestBotCommandBotDeletionOrder pins that a ChatBot waits for its BotCommands: deleting both
// at once (kubectl delete -f) unregisters the command before the bot.
func TestBotCommandBotDeletionOrder(t *testing.T) {
	run := perSimCases(t, managerOpts{})
	for _, api := range []b24v1.BotAPI{b24v1.BotAPIV1, b24v1.BotAPIV2} {
		run(string(api), func(t *testing.T, ns string, sim *bitrixtest.Server) {
			var bot *b24v1.ChatBot
			cmd := botCommand(ns, "help", "support", "help")
			unregisterCommand, unregisterBot := "imbot.command.unregister", "imbot.unregister"
			if api == b24v1.BotAPIV2 {
				bot = portalWithV2Bot(t, ns, sim)
				cmd = v2Command(ns, "help", "support", "help")
				unregisterCommand, unregisterBot = "imbot.v2.Command.unregister", "imbot.v2.Bot.unregister"
			} else {
				bot = portalWithBot(t, ns, sim)
			}
			// A finalizer of the test's own holds the command, so the bot's wait shows.
			cmd.Finalizers = []string{"test.b24ops.io/hold"}
			create(t, cmd)
			waitReady(t, cmd)
			sim.ResetCalls()
			deleteObject(t, bot)
			deleteObject(t, cmd)
			eventually(t, 30*time.Second, "the bot to wait for its command", func() (bool, string) {
				c := condition(t, bot, b24v1.ConditionReady)
				return c != nil && strings.Contains(c.Message, "BotCommand") && strings.Contains(c.Message, "help"), fmt.Sprintf("%+v", c)
			})
			eventually(t, 30*time.Second, "the command unregistered", func() (bool, string) {
				return sim.CallCount(unregisterCommand) > 0, fmt.Sprint(methodsCalled(sim))
			})
			if n := sim.CallCount(unregisterBot); n != 0 {
				t.Fatalf("bot unregistered while its command still existed (calls %v)", methodsCalled(sim))
			}
			update(t, cmd, func() {
				cmd.Finalizers = slices.DeleteFunc(cmd.Finalizers, func(f string) bool { return f == "test.b24ops.io/hold" })
			})
			waitGone(t, cmd)
			waitGone(t, bot)
			calls := methodsCalled(sim)
			ci, bi := slices.Index(calls, unregisterCommand), slices.Index(calls, unregisterBot)
			if ci < 0 || bi < 0 || ci > bi {
				t.Fatalf("calls %v: want %s before %s", calls, unregisterCommand, unregisterBot)
			}
		})
	}
}

// A crash after the register and before the status write that records the command id must
// not leave a second command: the next manager finds the command (V1: register is idempotent
// by bot and command; V2: Command.list by name) and records it.
func TestBotCommandCrashAfterRegister(t *testing.T) {
	for _, api := range []b24v1.BotAPI{b24v1.BotAPIV1, b24v1.BotAPIV2} {
		t.Run(string(api), func(t *testing.T) {
			sim := bitrixtest.NewServer()
			defer sim.Close()
			var failed atomic.Int32
			crashing := statusCrash(func(c *b24v1.BotCommand) bool { return c.Status.CommandID != 0 }, &failed)
			ns, _, stop1 := startTest(t, managerOpts{newClient: crashing})
			cmd := botCommand(ns, "help", "support", "help")
			if api == b24v1.BotAPIV2 {
				portalWithV2Bot(t, ns, sim)
				cmd = v2Command(ns, "help", "support", "help")
			} else {
				portalWithBot(t, ns, sim)
			}
			create(t, cmd)
			eventually(t, 30*time.Second, "the register and a failed status write", func() (bool, string) {
				return failed.Load() > 0 && len(remoteCommands(sim)) == 1, fmt.Sprintf("failed %d, commands %d", failed.Load(), len(remoteCommands(sim)))
			})
			stop1()
			if reload(t, cmd).Status.CommandID != 0 {
				t.Fatal("the crash did not prevent the status write")
			}

			startManager(t, managerOpts{})
			waitReady(t, cmd)
			cmds := remoteCommands(sim)
			if len(cmds) != 1 || int64(cmds[0].ID) != cmd.Status.CommandID {
				t.Fatalf("remote commands %+v, status id %d: want the one command, recorded", cmds, cmd.Status.CommandID)
			}
		})
	}
}

// TestBotCommandListsShareBatches pins the V2 drift read: the command lists of a Portal's bots
// are read together, in batch requests, and one read serves every command of a bot. A manager
// that starts with an empty cache reads all three bots' lists at once.
func TestBotCommandListsShareBatches(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	ns, _, stop1 := startTest(t, managerOpts{})
	webhookPortal(t, ns, "acme", "acme-bots", sim)
	bots := map[string]bool{}
	for _, name := range []string{"one", "two", "three"} {
		b := chatBotV2(ns, name, "acme", name)
		create(t, b)
		for _, c := range []string{"help", "status"} {
			create(t, v2Command(ns, name+"-"+c, name, c))
		}
		waitReady(t, b)
		bots[fmt.Sprint(b.Status.BotID)] = true
	}
	var cmds b24v1.BotCommandList
	eventually(t, 30*time.Second, "every command Ready", func() (bool, string) {
		if err := env.Client.List(context.Background(), &cmds, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for i := range cmds.Items {
			if c := meta.FindStatusCondition(cmds.Items[i].Status.Conditions, b24v1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
				return false, cmds.Items[i].Name + " not Ready"
			}
		}
		return len(cmds.Items) == 6, fmt.Sprintf("%d commands", len(cmds.Items))
	})
	stop1()

	sim.ResetCalls()
	startManager(t, managerOpts{})
	read := map[string]bool{}
	eventually(t, 30*time.Second, "the command lists of the three bots", func() (bool, string) {
		for _, c := range sim.Calls() {
			if c.Method != "imbot.v2.Command.list" {
				continue
			}
			if c.BatchKey == "" {
				t.Fatalf("Command.list of bot %v read on its own, not with the Portal's other bots", c.Params["BOTID"])
			}
			read[fmt.Sprint(c.Params["BOTID"])] = true
		}
		return len(read) == len(bots), fmt.Sprintf("read %v of %v", read, bots)
	})
	if n := commandWrites(sim); n != 0 {
		t.Errorf("%d command writes after a restart", n)
	}
}
