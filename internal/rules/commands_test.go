package rules_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
)

func TestCommandHandlerHolders(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	later := metav1.NewTime(t0.Add(time.Minute))
	now := metav1.NewTime(t0.Add(time.Hour))
	url := b24v1.HTTPSURL("https://bots.example.com/commands")
	cmd := func(ns, name string, created metav1.Time, mutate ...func(*b24v1.BotCommand)) *b24v1.BotCommand {
		c := &b24v1.BotCommand{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created},
			Spec: b24v1.BotCommandSpec{BotRef: b24v1.LocalObjectReference{Name: "bot-" + name}, EventHandler: &url}}
		for _, m := range mutate {
			m(c)
		}
		return c
	}
	appOf := func(c *b24v1.BotCommand) (string, bool) {
		switch c.Spec.BotRef.Name {
		case "bot-v2":
			return "acme/bots", false
		case "bot-other":
			return "acme/other", true
		}
		return "acme/bots", true
	}
	cases := []struct {
		name string
		cmds []*b24v1.BotCommand
		want []string
	}{
		{"oldest first, then namespace, then name", []*b24v1.BotCommand{cmd("b", "x", later), cmd("b", "a", t0), cmd("a", "z", t0)}, []string{"a/z", "b/a", "b/x"}},
		{"commands of V2 bots and of other applications hold nothing", []*b24v1.BotCommand{cmd("a", "v2", t0), cmd("a", "other", t0), cmd("a", "x", later)}, []string{"a/x"}},
		{"a command without eventHandler holds nothing", []*b24v1.BotCommand{cmd("a", "x", t0, func(c *b24v1.BotCommand) { c.Spec.EventHandler = nil })}, nil},
		{"a deletion that never registered holds nothing; one that did still holds", []*b24v1.BotCommand{
			cmd("a", "gone", t0, func(c *b24v1.BotCommand) { c.DeletionTimestamp = &now }),
			cmd("a", "leaving", t0, func(c *b24v1.BotCommand) { c.DeletionTimestamp, c.Status.CommandID = &now, 7 }),
		}, []string{"a/leaving"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range rules.CommandHandlerHolders("acme/bots", tc.cmds, appOf) {
				got = append(got, c.Namespace+"/"+c.Name)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("holders %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("holders %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestValidV1Command(t *testing.T) {
	for name, want := range map[string]bool{"help": true, "status2": true, "on_call": false, "": false, "a-b": false} {
		if got := b24v1.ValidV1Command(name); got != want {
			t.Errorf("ValidV1Command(%q) = %v, want %v", name, got, want)
		}
	}
}
