package webhook_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

const (
	cmdHookA = "https://bots.acme.test/commands-a"
	cmdHookB = "https://bots.acme.test/commands-b"
)

// command is a BotCommand with a command handler ("" for none).
func command(ns, name, botName, cmd, handler string) *b24v1.BotCommand {
	c := &b24v1.BotCommand{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.BotCommandSpec{
			BotRef:       b24v1.LocalObjectReference{Name: botName},
			Command:      cmd,
			Translations: []b24v1.CommandTranslation{{Language: "en", Title: "Help"}},
		},
	}
	if handler != "" {
		h := b24v1.HTTPSURL(handler)
		c.Spec.EventHandler = &h
	}
	return c
}

// explicitV2 is a ChatBot declared V2.
func explicitV2(ns, name, portalName, code string) *b24v1.ChatBot {
	b := botV2(ns, name, portalName, code, hookA)
	v2 := b24v1.BotAPIV2
	b.Spec.API = &v2
	return b
}

func TestBotCommandCreate(t *testing.T) {
	cases := []struct {
		name string
		// given creates what exists before and returns the BotCommand to create and what the
		// refusal must say (nil: admitted); absent lists what it must not say.
		given func(t *testing.T, a *app) (cmd *b24v1.BotCommand, want, absent []string)
	}{
		{"a V1 bot's command with _ is refused, naming the field and the rule", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA))
			return command(a.ns1, "on-call", "support", "on_call", cmdHookA), []string{"spec.command", "letters and digits", "V1 bot"}, nil
		}},
		{"a V1 bot's command without eventHandler is refused", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA))
			return command(a.ns1, "help", "support", "help", ""), []string{"spec.eventHandler", "EVENT_COMMAND_ADD"}, nil
		}},
		{"a second command handler in one application is refused, naming the command that holds it", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				bot(a.ns1, "sales", "acme", "sales", hookA), command(a.ns1, "help", "support", "help", cmdHookA))
			return command(a.ns1, "status", "sales", "status", cmdHookB), []string{"spec.eventHandler", "BotCommand help", cmdHookA, "one command handler per application"}, nil
		}},
		{"a command of another namespace is named only as an object in another namespace", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				portal(a.ns2, "acme", a.url(), "bots", 0), bot(a.ns2, "sales", "acme", "sales", hookA),
				command(a.ns1, "secret-help", "support", "help", cmdHookA))
			return command(a.ns2, "status", "sales", "status", cmdHookB), []string{"spec.eventHandler", "an object in another namespace"}, []string{"secret-help", cmdHookA, a.ns1}
		}},
		{"the application's command handler URL is admitted", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				command(a.ns1, "help", "support", "help", cmdHookA))
			return command(a.ns1, "status", "support", "status", cmdHookA), nil, nil
		}},
		{"another application has its own command handler", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				portal(a.ns1, "other", a.url(), "other-app", 0), bot(a.ns1, "sales", "other", "sales", hookB),
				command(a.ns1, "help", "support", "help", cmdHookA))
			return command(a.ns1, "status", "sales", "status", cmdHookB), nil, nil
		}},
		{"a V2 bot's command with eventHandler is refused", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), explicitV2(a.ns1, "support", "acme", "support"))
			return command(a.ns1, "help", "support", "help", cmdHookA), []string{"spec.eventHandler", "V1 only", "V2 bot"}, nil
		}},
		{"a V2 bot's command may hold _ and needs no handler", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), explicitV2(a.ns1, "support", "acme", "support"))
			return command(a.ns1, "on-call", "support", "on_call", ""), nil, nil
		}},
		{"a command whose ChatBot does not exist yet is admitted (the controller decides)", func(t *testing.T, a *app) (*b24v1.BotCommand, []string, []string) {
			return command(a.ns1, "early", "not-yet", "on_call", ""), nil, nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, want, absent := tc.given(t, newApp(t))
			err := env.Client.Create(context.Background(), c)
			expect(t, err, want)
			for _, s := range absent {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("refusal %q tells %q", err.Error(), s)
				}
			}
		})
	}
}

// An existing command's edits pass unless they move its handler away from the application's;
// b24ops.io/migrate-handlers lets such a move through with a warning.
func TestBotCommandUpdate(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	help, status := command(a.ns1, "help", "support", "help", cmdHookA), command(a.ns1, "status", "support", "status", cmdHookA)
	mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA), help, status)

	change := func(c *b24v1.BotCommand, f func()) error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			t.Fatal(err)
		}
		f()
		return env.Client.Update(ctx, c)
	}
	expect(t, change(status, func() { status.Spec.Translations[0].Title = "Status" }), nil)
	err := change(status, func() { status.Spec.EventHandler = ptrURL(cmdHookB) })
	expect(t, err, []string{"spec.eventHandler", "BotCommand help"})
	if err == nil || !apierrors.IsInvalid(err) {
		t.Fatal("handler change admitted")
	}
	expect(t, change(status, func() {
		status.Spec.EventHandler = ptrURL(cmdHookB)
		status.Annotations = map[string]string{b24v1.MigrateHandlersAnnotation: "true"}
	}), nil)
}

func ptrURL(s string) *b24v1.HTTPSURL {
	u := b24v1.HTTPSURL(s)
	return &u
}
