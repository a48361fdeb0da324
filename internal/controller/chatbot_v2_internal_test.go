package controller

import (
	"errors"
	"slices"
	"strings"
	"testing"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
)

// TestChooseAPI pins which API a ChatBot uses and which combinations the controller refuses
// (the final authority behind the CRD's CEL rules, which cannot see the Portal or status).
func TestChooseAPI(t *testing.T) {
	yes, no := true, false
	v1, v2 := b24v1.BotAPIV1, b24v1.BotAPIV2
	hook := b24v1.HTTPSURL("https://bots.acme.ru/events")
	base := func() *b24v1.ChatBot {
		name := "Support"
		return &b24v1.ChatBot{Spec: b24v1.ChatBotSpec{Code: "support", EventHandler: &hook, Properties: b24v1.BotProperties{Name: &name}}}
	}
	with := func(f func(*b24v1.ChatBot)) *b24v1.ChatBot { b := base(); f(b); return b }
	cases := []struct {
		name    string
		bot     *b24v1.ChatBot
		v2      *bool // the Portal's status.v2Available
		want    b24v1.BotAPI
		note    string // a substring of the note, "" for none
		outcome managed.Outcome
		reason  string // set when refused
		message string
	}{
		{name: "unset on a v2 portal is V2", bot: base(), v2: &yes, want: v2},
		{name: "unset on a portal without v2 is V1, saying so", bot: base(), v2: &no, want: v1, note: "no imbot.v2"},
		{name: "unset before the portal reported waits", bot: base(), outcome: managed.Wait, reason: b24v1.ReasonDependencyNotReady, message: "has not yet reported"},
		{name: "explicit V1 on a v2 portal is V1 without a note", bot: with(func(b *b24v1.ChatBot) { b.Spec.API = &v1 }), v2: &yes, want: v1},
		{name: "explicit V1 needs no portal report", bot: with(func(b *b24v1.ChatBot) { b.Spec.API = &v1 }), want: v1},
		{name: "a V1-only field without spec.api means V1", bot: with(func(b *b24v1.ChatBot) { b.Spec.Properties.Email = ptrTo("a@b.c") }), v2: &yes, want: v1},
		{name: "a V2-only field without spec.api means V2", bot: with(func(b *b24v1.ChatBot) { b.Spec.Properties.Hidden = &yes }), v2: &yes, want: v2},
		{name: "a V2-only field on a portal without v2 is refused", bot: with(func(b *b24v1.ChatBot) { b.Spec.Properties.Hidden = &yes }), v2: &no,
			outcome: managed.Stall, reason: b24v1.ReasonInvalidSpec, message: "properties.hidden, which only V2 has"},
		{name: "explicit V2 on a portal without v2 is refused", bot: with(func(b *b24v1.ChatBot) { b.Spec.API = &v2 }), v2: &no,
			outcome: managed.Stall, reason: b24v1.ReasonInvalidSpec, message: "no imbot.v2"},
		{name: "V1-only and V2-only fields together are refused", bot: with(func(b *b24v1.ChatBot) { b.Spec.Properties.Email = ptrTo("a@b.c"); b.Spec.Properties.Hidden = &yes }), v2: &yes,
			outcome: managed.Stall, reason: b24v1.ReasonInvalidSpec, message: "V1 API, which has no properties.hidden"},
		{name: "a bot with a botId and no status.api stays V1", bot: with(func(b *b24v1.ChatBot) { b.Status.BotID = 7 }), v2: &yes, want: v1},
		{name: "a registered bot keeps its API", bot: with(func(b *b24v1.ChatBot) { b.Status.BotID, b.Status.API = 7, v2 }), v2: &no, want: v2},
		{name: "changing spec.api of a registered bot is refused", bot: with(func(b *b24v1.ChatBot) { b.Status.BotID, b.Status.API, b.Spec.API = 7, v1, &v2 }), v2: &yes,
			outcome: managed.Stall, reason: b24v1.ReasonInvalidSpec, message: "cannot change its API"},
		{name: "a V2 bot without properties.name is refused", bot: with(func(b *b24v1.ChatBot) { b.Spec.Properties.Name, b.Spec.Properties.LastName = nil, ptrTo("Bot") }), v2: &yes,
			outcome: managed.Stall, reason: b24v1.ReasonInvalidSpec, message: "needs properties.name"},
		{name: "a V1 bot without a handler is refused", bot: with(func(b *b24v1.ChatBot) { b.Spec.EventHandler = nil }), v2: &no,
			outcome: managed.Stall, reason: b24v1.ReasonInvalidSpec, message: "needs exactly one of eventHandler or eventHandlers"},
		{name: "an ObserveOnly V1 bot without a handler is observed (imbot.bot.list does not show handlers)", bot: with(func(b *b24v1.ChatBot) {
			b.Spec.EventHandler, b.Spec.ManagementPolicy = nil, ptrTo(b24v1.ManagementPolicyObserveOnly)
		}), v2: &no, want: v1, note: "registered through V1"},
		{name: "a V2 bot without a handler is a fetch bot", bot: with(func(b *b24v1.ChatBot) { b.Spec.EventHandler = nil }), v2: &yes, want: v2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &b24v1.Portal{}
			p.Name = "acme"
			p.Status.V2Available = tc.v2
			api, note, err := chooseAPI(tc.bot, p)
			if tc.reason != "" {
				var me *managed.Error
				if !errors.As(err, &me) || me.Reason != tc.reason || me.Outcome != tc.outcome || !strings.Contains(me.Message, tc.message) {
					t.Fatalf("err = %v, want %s %s containing %q", err, tc.outcome, tc.reason, tc.message)
				}
				return
			}
			if err != nil || api != tc.want {
				t.Fatalf("chooseAPI = %q, %v; want %q", api, err, tc.want)
			}
			if (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
				t.Errorf("note = %q, want one containing %q", note, tc.note)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestDriftV2 pins what an ObserveOnly V2 bot reports in Synced: the properties the spec sets
// that Bot.list's user record shows otherwise, and nothing the spec leaves out.
func TestDriftV2(t *testing.T) {
	green := b24v1.Color("GREEN")
	props := b24v1.BotProperties{Name: ptrTo("Support"), LastName: ptrTo("Bot"), WorkPosition: ptrTo("First line"), Color: &green}
	cases := []struct {
		name string
		user bitrix.BotV2User
		want []string
	}{
		{"the first and last name as the record splits them are in sync",
			bitrix.BotV2User{Name: "Support Bot", FirstName: "Support", LastName: "Bot", WorkPosition: "First line", Color: "#64a513"}, nil},
		{"an answer with the full name only is compared with name and lastName joined",
			bitrix.BotV2User{Name: "Support Bot", WorkPosition: "First line", Color: "#64a513"}, nil},
		{"each differing property is named with the remote value",
			bitrix.BotV2User{FirstName: "Helpdesk", LastName: "Bot", WorkPosition: "Second line", Color: "#df532d"},
			[]string{`properties.name (remote "Helpdesk")`, `properties.workPosition (remote "Second line")`, `properties.color (remote "RED")`}},
		{"a color that is no named color is shown as Bitrix24 reports it",
			bitrix.BotV2User{FirstName: "Support", LastName: "Bot", WorkPosition: "First line", Color: "#123456"},
			[]string{`properties.color (remote "#123456", not a named color)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := driftV2(props, tc.user); !slices.Equal(got, tc.want) {
				t.Errorf("drift %q, want %q", got, tc.want)
			}
		})
	}
	if got := driftV2(b24v1.BotProperties{Name: ptrTo("Support")}, bitrix.BotV2User{FirstName: "Support", LastName: "Bot", WorkPosition: "x", Color: "#df532d"}); len(got) != 0 {
		t.Errorf("drift %q for properties the spec leaves out, want none", got)
	}
}
