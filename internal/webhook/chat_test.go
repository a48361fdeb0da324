package webhook_test

import (
	"context"
	"testing"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

func TestChatCreate(t *testing.T) {
	incidents := &b24v1.ChatEntity{Type: "OPS", ID: "incidents"}
	cases := []struct {
		name string
		// given creates what exists before and returns the Chat to create and what the refusal
		// must say (nil: admitted).
		given func(t *testing.T, a *app) (*b24v1.Chat, []string)
	}{
		{"the same entity twice on one portal is refused, naming the other Chat", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				bot(a.ns1, "sales", "acme", "sales", hookA),
				chat(a.ns1, "incidents", "support", incidents))
			return chat(a.ns1, "war-room", "sales", incidents), []string{"spec.entity", "Chat " + a.ns1 + "/incidents", `entity type "OPS" id "incidents"`, "portal " + a.host}
		}},
		{"the same entity as a Chat of another namespace is refused without naming it", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				portal(a.ns2, "acme", a.url(), "bots", 0), bot(a.ns2, "sales", "acme", "sales", hookA),
				chat(a.ns1, "incidents", "support", incidents))
			return chat(a.ns2, "war-room", "sales", incidents), []string{"spec.entity", "an object in another namespace already uses", `entity type "OPS" id "incidents"`, "!" + a.ns1, "!Chat incidents"}
		}},
		{"a Chat through a Portal whose credentials were never verified squats no entity", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t,
				unverified(portal(a.ns2, "fake", a.url(), "bots", 0)), bot(a.ns2, "squat", "fake", "squat", hookA),
				chat(a.ns2, "incidents", "squat", incidents),
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA))
			return chat(a.ns1, "incidents", "support", incidents), nil
		}},
		{"one portal is one host: bots of two applications on it share the entities", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				portal(a.ns1, "acme-other", a.url(), "other", 0), bot(a.ns1, "sales", "acme-other", "sales", hookB),
				chat(a.ns1, "incidents", "support", incidents))
			return chat(a.ns1, "war-room", "sales", incidents), []string{"Chat " + a.ns1 + "/incidents"}
		}},
		{"a default entity equal to another Chat's explicit one is refused", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				chat(a.ns1, "squatter", "support", &b24v1.ChatEntity{Type: "B24OPS", ID: a.ns1 + "/incidents"}))
			return chat(a.ns1, "incidents", "support", nil), []string{"Chat " + a.ns1 + "/squatter", `entity type "B24OPS" id "` + a.ns1 + `/incidents"`}
		}},
		{"the same entity on another portal is admitted", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				portal(a.ns1, "globex", "https://globex-"+a.host, "bots", 0), bot(a.ns1, "sales", "globex", "sales", hookA),
				chat(a.ns1, "incidents", "support", incidents))
			return chat(a.ns1, "war-room", "sales", incidents), nil
		}},
		{"default entities of Chats in two namespaces are admitted", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				portal(a.ns2, "acme", a.url(), "bots", 0), bot(a.ns2, "support", "acme", "support-2", hookA),
				chat(a.ns1, "incidents", "support", nil))
			return chat(a.ns2, "incidents", "support", nil), nil
		}},
		{"an adopt.id another Chat on the portal adopts is refused, naming it", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			first := chat(a.ns1, "incidents", "support", nil)
			first.Spec.Adopt = &b24v1.Adopt{ID: 2725}
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA), first)
			again := chat(a.ns1, "war-room", "support", nil)
			again.Spec.Adopt = &b24v1.Adopt{ID: 2725}
			return again, []string{"spec.adopt.id", "chat 2725", "Chat " + a.ns1 + "/incidents"}
		}},
		{"the same adopt.id on another portal is admitted", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			first := chat(a.ns1, "incidents", "support", nil)
			first.Spec.Adopt = &b24v1.Adopt{ID: 2725}
			mustCreate(t,
				portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA),
				portal(a.ns1, "globex", "https://globex-"+a.host, "bots", 0), bot(a.ns1, "sales", "globex", "sales", hookA), first)
			again := chat(a.ns1, "war-room", "sales", nil)
			again.Spec.Adopt = &b24v1.Adopt{ID: 2725}
			return again, nil
		}},
		{"a Chat whose ChatBot does not exist yet is admitted", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			return chat(a.ns1, "early", "not-yet", incidents), nil
		}},
		{"a Chat whose ChatBot's Portal does not exist yet is admitted", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			mustCreate(t, bot(a.ns1, "support", "not-yet", "support", hookA))
			return chat(a.ns1, "early", "support", incidents), nil
		}},
		{"a Chat being deleted that never got a remote chat frees its entity", func(t *testing.T, a *app) (*b24v1.Chat, []string) {
			old := chat(a.ns1, "old", "support", incidents)
			old.Finalizers = []string{heldFinalizer}
			mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA), old)
			deleteHeld(t, old)
			return chat(a.ns1, "new", "support", incidents), nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, want := tc.given(t, newApp(t))
			expect(t, env.Client.Create(context.Background(), c), want)
		})
	}
}

// An existing Chat keeps working whatever else exists: edits and finalizers pass.
func TestChatUpdatePasses(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	entity := &b24v1.ChatEntity{Type: "OPS", ID: "dup"}
	first, late := chat(a.ns1, "first", "support", entity), chat(a.ns1, "late", "support", entity)
	// late is created before its bot exists, so the two now share an entity.
	mustCreate(t, late, portal(a.ns1, "acme", a.url(), "bots", 0), bot(a.ns1, "support", "acme", "support", hookA))
	expect(t, env.Client.Create(ctx, first), []string{"Chat " + a.ns1 + "/late"})
	if err := env.Client.Get(ctx, keyOf(late), late); err != nil {
		t.Fatal(err)
	}
	title := "Late"
	late.Spec.Title = &title
	late.Finalizers = []string{b24v1.Finalizer}
	expect(t, env.Client.Update(ctx, late), nil)
}
