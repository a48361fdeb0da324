package bitrix_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

func TestChats(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e env, bot int)
	}{
		{
			name: "chat.get finds nothing (null) until chat.add creates the chat with its entity",
			run: func(t *testing.T, e env, bot int) {
				_, found, err := e.c.ChatGet(e.ctx, bot, "B24OPS", "team-a/incidents")
				mustNoErr(t, err)
				if found {
					t.Fatal("found a chat before creating it")
				}
				id := mustChat(t, e, bot, "team-a/incidents", 1, 2)
				got, found, err := e.c.ChatGet(e.ctx, bot, "B24OPS", "team-a/incidents")
				mustNoErr(t, err)
				if !found || got != id {
					t.Fatalf("ChatGet = %d, %v; want %d", got, found, id)
				}
			},
		},
		{
			name: "chat.add is not idempotent: a repeat creates a second chat; chat.get returns the first",
			run: func(t *testing.T, e env, bot int) {
				first := mustChat(t, e, bot, "dup", 1)
				second := mustChat(t, e, bot, "dup", 1)
				if first == second || len(e.srv.Chats()) != 2 {
					t.Fatalf("chats = %+v", e.srv.Chats())
				}
				got, _, err := e.c.ChatGet(e.ctx, bot, "B24OPS", "dup")
				mustNoErr(t, err)
				if got != first {
					t.Fatalf("ChatGet = %d, want the first chat %d", got, first)
				}
			},
		},
		{
			name: "chat.add sends every field; dialog.get reads them back with the colour as hex",
			run: func(t *testing.T, e env, bot int) {
				id, err := e.c.ChatAdd(e.ctx, bitrix.ChatAddParams{
					BotID: bot, Type: "open", Title: "Incidents", Description: "On-call room", Color: "mint",
					Message: "Welcome!", Users: []int{1, 2}, Avatar: []byte("png"), EntityType: "B24OPS",
					EntityID: "team-a/incidents", OwnerID: 1,
				})
				mustNoErr(t, err)
				ch, _ := e.srv.Chat(id)
				if ch.Type != "OPEN" || ch.Message != "Welcome!" || string(ch.Avatar) != "png" || !slices.Equal(ch.Members, []int{1, 2, bot}) {
					t.Fatalf("chat = %+v", ch)
				}
				d, err := e.c.DialogGet(e.ctx, bot, id)
				mustNoErr(t, err)
				if d.ID != id || d.Name != "Incidents" || d.Description != "On-call room" || d.Owner != 1 ||
					d.Color != "#4ba984" || d.EntityType != "B24OPS" || d.EntityID != "team-a/incidents" || d.Avatar == "" || d.Type != "open" {
					t.Fatalf("dialog = %+v", d)
				}
				if name, _ := bitrix.ColorName(d.Color); name != "MINT" {
					t.Fatalf("ColorName(%s) = %s", d.Color, name)
				}
			},
		},
		{
			name: "chat.add without users answers USERS_EMPTY",
			run: func(t *testing.T, e env, bot int) {
				_, err := e.c.ChatAdd(e.ctx, bitrix.ChatAddParams{BotID: bot, Title: "x"})
				wantCode(t, err, "USERS_EMPTY")
			},
		},
		{
			name: "updates change title, colour and avatar; repeating the current value answers WRONG_REQUEST",
			run: func(t *testing.T, e env, bot int) {
				id := mustChat(t, e, bot, "upd", 1)
				mustNoErr(t, e.c.ChatUpdateTitle(e.ctx, bot, id, "Renamed"))
				mustNoErr(t, e.c.ChatUpdateColor(e.ctx, bot, id, "PURPLE"))
				mustNoErr(t, e.c.ChatUpdateAvatar(e.ctx, bot, id, []byte("new")))
				ch, _ := e.srv.Chat(id)
				if ch.Title != "Renamed" || ch.Color != "PURPLE" || string(ch.Avatar) != "new" {
					t.Fatalf("chat = %+v", ch)
				}
				for name, err := range map[string]error{
					"title":  e.c.ChatUpdateTitle(e.ctx, bot, id, "Renamed"),
					"color":  e.c.ChatUpdateColor(e.ctx, bot, id, "PURPLE"),
					"avatar": e.c.ChatUpdateAvatar(e.ctx, bot, id, []byte("new")),
				} {
					t.Run(name, func(t *testing.T) {
						wantCode(t, err, "WRONG_REQUEST")
						if bitrix.IsAmbiguous(err) {
							t.Fatalf("a first attempt's WRONG_REQUEST is not ambiguous: %v", err)
						}
					})
				}
				wantCode(t, e.c.ChatUpdateColor(e.ctx, bot, id, "CHARTREUSE"), "WRONG_COLOR")
			},
		},
		{
			name: "members: add the missing, list, delete; an existing member or a non-member answers WRONG_REQUEST",
			run: func(t *testing.T, e env, bot int) {
				id := mustChat(t, e, bot, "members", 1)
				mustNoErr(t, e.c.ChatUserAdd(e.ctx, bot, id, []int{2, 3}))
				got, err := e.c.ChatUserList(e.ctx, bot, id)
				mustNoErr(t, err)
				if !slices.Equal(got, []int{1, 2, 3, bot}) {
					t.Fatalf("members = %v", got)
				}
				wantCode(t, e.c.ChatUserAdd(e.ctx, bot, id, []int{3, 4}), "WRONG_REQUEST")
				mustNoErr(t, e.c.ChatUserDelete(e.ctx, bot, id, 3))
				wantCode(t, e.c.ChatUserDelete(e.ctx, bot, id, 3), "WRONG_REQUEST")
				// The bot owns the chat it created: it cannot be removed.
				wantCode(t, e.c.ChatUserDelete(e.ctx, bot, id, bot), "LEAVE_OWNER_FORBIDDEN")
			},
		},
		{
			name: "an owner bot must hand over before leaving; only the owner may hand over",
			run: func(t *testing.T, e env, bot int) {
				id := mustChat(t, e, bot, "leave", 1, 2)
				err := e.c.ChatLeave(e.ctx, bot, id)
				wantCode(t, err, "LEAVE_OWNER_FORBIDDEN")
				wantCode(t, e.c.ChatSetOwner(e.ctx, bot, id, 99), "WRONG_REQUEST") // not a member
				mustNoErr(t, e.c.ChatSetOwner(e.ctx, bot, id, 1))
				wantCode(t, e.c.ChatSetOwner(e.ctx, bot, id, 2), "WRONG_REQUEST") // no longer the owner
				mustNoErr(t, e.c.ChatLeave(e.ctx, bot, id))
				ch, _ := e.srv.Chat(id)
				if ch.Owner != 1 || slices.Contains(ch.Members, bot) {
					t.Fatalf("chat = %+v", ch)
				}
				_, err = e.c.DialogGet(e.ctx, bot, id)
				wantCode(t, err, "ACCESS_ERROR")
			},
		},
		{
			name: "BOT_ID is always sent, so a second bot acts as itself",
			run: func(t *testing.T, e env, bot int) {
				second := mustRegister(t, e, "second")
				id := mustChat(t, e, second, "second", 1)
				ch, _ := e.srv.Chat(id)
				if ch.BotID != second {
					t.Fatalf("chat created by bot %d, want %d", ch.BotID, second)
				}
				for _, c := range e.srv.Calls() {
					if strings.HasPrefix(c.Method, "imbot.chat") && c.Params["BOT_ID"] == nil {
						t.Fatalf("%s sent without BOT_ID", c.Method)
					}
				}
			},
		},
		{
			name: "chat calls with a bot that is gone answer BOT_ID_ERROR",
			run: func(t *testing.T, e env, bot int) {
				e.srv.DeleteBotRemotely(bot)
				_, err := e.c.ChatAdd(e.ctx, bitrix.ChatAddParams{BotID: bot, Users: []int{1}})
				wantCode(t, err, "BOT_ID_ERROR")
				if !errors.Is(err, bitrix.ErrBotNotFound) {
					t.Fatal("errors.Is(ErrBotNotFound) failed")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tc.run(t, e, mustRegister(t, e, "support"))
		})
	}
}

func TestColorHex(t *testing.T) {
	for name, hex := range map[string]string{"RED": "#df532d", "graphite": "#5e5f5e", "LIGHT_BLUE": "#4ba5c3"} {
		if got, ok := bitrix.ColorHex(name); !ok || got != hex {
			t.Errorf("ColorHex(%s) = %s, %v; want %s", name, got, ok, hex)
		}
	}
	if _, ok := bitrix.ColorHex("CHARTREUSE"); ok {
		t.Error("ColorHex accepted an unknown colour")
	}
}
