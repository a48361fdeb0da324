package controller_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/plugin"
)

// portalReads are the calls that change nothing on the portal.
var portalReads = map[string]bool{
	"scope": true, "app.info": true, "batch": true, // batch commands are logged one by one
	"imbot.v2.Revision.get": true, "imbot.v2.Bot.list": true, "imbot.v2.Bot.get": true, "imbot.v2.Command.list": true,
	"imbot.bot.list": true,
}

// portalWrites lists the calls the simulator logged that are not reads.
func portalWrites(sim *bitrixtest.Server) []string {
	var out []string
	for _, c := range sim.Calls() {
		if !portalReads[c.Method] {
			out = append(out, c.Method)
		}
	}
	return out
}

// applyImport creates every document of a `kubectl b24 import` YAML stream as it is, and
// returns the ChatBots and the BotCommands.
func applyImport(t *testing.T, ns, stream string) ([]*b24v1.ChatBot, []*b24v1.BotCommand) {
	t.Helper()
	var bots []*b24v1.ChatBot
	var cmds []*b24v1.BotCommand
	for _, doc := range strings.Split(stream, "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("import output does not parse: %v\n%s", err, doc)
		}
		if u.Object == nil {
			continue // only comments
		}
		if u.GetNamespace() != ns {
			t.Fatalf("%s %s is in namespace %q, want %q (-n)", u.GetKind(), u.GetName(), u.GetNamespace(), ns)
		}
		if err := env.Client.Create(context.Background(), &u); err != nil {
			t.Fatalf("the import output is refused as it is: %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		switch u.GetKind() {
		case "ChatBot":
			bots = append(bots, &b24v1.ChatBot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: u.GetName()}})
		case "BotCommand":
			cmds = append(cmds, &b24v1.BotCommand{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: u.GetName()}})
		}
	}
	return bots, cmds
}

// TestImportApplyObserve is the way in for an existing portal: bots (and a V2 bot's command)
// registered by hand, `kubectl b24 import` of them applied as it is, every ChatBot and
// BotCommand Ready and every ChatBot Synced, with zero
// writes to the portal; then one switched to Full is taken over in place, under the same id.
func TestImportApplyObserve(t *testing.T) {
	run := subtests(t, managerOpts{})
	ctx := context.Background()
	cases := []struct {
		name string
		sim  []bitrixtest.Option
		// existing registers the bots behind the operator's back and returns the code of the
		// one to take over and what the spec needs before switching to Full.
		existing func(t *testing.T, c *bitrix.Client) (code string, takeOver func(*b24v1.ChatBot))
		// commands is how many BotCommands the import prints (v1 cannot list commands).
		commands int
	}{
		{"V1 portal (imbot.bot.list)", []bitrixtest.Option{bitrixtest.WithoutV2()}, func(t *testing.T, c *bitrix.Client) (string, func(*b24v1.ChatBot)) {
			for _, b := range []bitrix.BotParams{
				{Code: "support", EventHandler: "https://bots.example.com/events", Properties: bitrix.BotProperties{Name: "Support"}},
				{Code: "lines", EventHandler: "https://bots.example.com/events", Openline: true, Properties: bitrix.BotProperties{Name: "Lines"}},
			} {
				if _, err := c.Register(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			// imbot.bot.list shows no handlers: the import says to set them before Full.
			return "support", func(b *b24v1.ChatBot) { b.Spec.EventHandler = ptr(b24v1.HTTPSURL("https://bots.example.com/events")) }
		}, 0},
		{"V2 portal (imbot.v2.Bot.list)", nil, func(t *testing.T, c *bitrix.Client) (string, func(*b24v1.ChatBot)) {
			support, err := c.RegisterV2(ctx, bitrix.BotV2Params{Code: "support", EventMode: bitrix.EventModeWebhook, WebhookURL: "https://bots.example.com/v2",
				Properties: bitrix.BotV2Properties{Name: "Support", LastName: "Bot", WorkPosition: "First line"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.RegisterV2(ctx, bitrix.BotV2Params{Code: "night-shift", EventMode: bitrix.EventModeFetch, Properties: bitrix.BotV2Properties{Name: "Night"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CommandRegisterV2(ctx, support.ID, bitrix.CommandV2Params{Command: "status", Title: map[string]string{"en": "Status"}}); err != nil {
				t.Fatal(err)
			}
			// A fetch-mode bot needs nothing the list does not show.
			return "night-shift", func(*b24v1.ChatBot) {}
		}, 1},
	}
	for _, tc := range cases {
		run(tc.name, func(t *testing.T, ns string) {
			sim := bitrixtest.NewServer(tc.sim...)
			defer sim.Close()
			waitReady(t, webhookPortal(t, ns, "acme", "acme-bots", sim))
			c := remoteClient(t, sim)
			code, takeOver := tc.existing(t, c)
			ids := map[string]int64{}
			for _, b := range sim.Bots() {
				ids[b.Code] = int64(b.ID)
			}

			res, err := plugin.Import(ctx, c, ns, "acme")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := res.WriteYAML(&out); err != nil {
				t.Fatal(err)
			}
			sim.ResetCalls()
			bots, cmds := applyImport(t, ns, out.String())
			if len(cmds) != tc.commands {
				t.Fatalf("import printed %d BotCommands, want %d:\n%s", len(cmds), tc.commands, out.String())
			}
			for _, c := range cmds {
				waitReady(t, c)
				if !c.ObserveOnly() || c.Status.CommandID == 0 {
					t.Errorf("BotCommand %s: managementPolicy %v, commandId %d; want an observed command", c.Name, c.Spec.ManagementPolicy, c.Status.CommandID)
				}
			}
			if len(bots) != len(ids) {
				t.Fatalf("import printed %d ChatBots for the %d bots on the portal:\n%s", len(bots), len(ids), out.String())
			}
			var target *b24v1.ChatBot
			for _, b := range bots {
				waitReady(t, b)
				poke(t, b)
				if !b.ObserveOnly() || b.Status.BotID != ids[b.Spec.Code] || b.Status.DeletionPolicy != b24v1.DeletionPolicyOrphan {
					t.Errorf("ChatBot %s: managementPolicy %v, botId %d, deletionPolicy %q; want ObserveOnly bot %d, Orphan",
						b.Name, b.Spec.ManagementPolicy, b.Status.BotID, b.Status.DeletionPolicy, ids[b.Spec.Code])
				}
				if s := meta.FindStatusCondition(b.Status.Conditions, b24v1.ConditionSynced); s == nil || s.Status != metav1.ConditionTrue {
					t.Errorf("ChatBot %s: Synced %+v, want True: the import prints what the portal shows", b.Name, s)
				}
				if b.Spec.Code == code {
					target = b
				}
			}
			if w := portalWrites(sim); len(w) != 0 {
				t.Fatalf("writes to the portal after applying the import: %v", w)
			}

			update(t, target, func() {
				target.Spec.ManagementPolicy = ptr(b24v1.ManagementPolicyFull)
				takeOver(target)
			})
			assertInSync(t, target)
			if target.Status.BotID != ids[code] {
				t.Fatalf("after switching to Full: botId %d, want the same bot %d", target.Status.BotID, ids[code])
			}
			for _, m := range []string{"imbot.register", "imbot.v2.Bot.register", "imbot.unregister", "imbot.v2.Bot.unregister"} {
				if n := sim.CallCount(m); n != 0 {
					t.Errorf("%d %s on the takeover, want 0 (taken over in place)", n, m)
				}
			}
			if c := meta.FindStatusCondition(target.Status.Conditions, b24v1.ConditionSynced); c != nil {
				t.Errorf("Synced %+v kept after switching to Full", c)
			}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(target), target); err != nil {
				t.Fatal(err)
			}
		})
	}
}
