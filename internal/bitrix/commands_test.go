package bitrix_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

const commandHandler = "https://bots.example.com/b24/commands"

func commandParams(botID int, name string) bitrix.CommandParams {
	return bitrix.CommandParams{
		BotID: botID, Command: name, EventHandler: commandHandler,
		Lang: []bitrix.CommandLang{{LanguageID: "en", Title: "Help", Params: "[topic]"}, {LanguageID: "de", Title: "Hilfe"}},
	}
}

func TestCommandsV1(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e env, bot int)
	}{
		{
			name: "register sends BOT_ID, COMMAND, the handler, LANG and flags; the handler is bound with ?CLIENT_ID",
			run: func(t *testing.T, e env, bot int) {
				p := commandParams(bot, "help")
				p.Common, p.ExtranetSupport = true, true
				id, err := e.c.CommandRegister(e.ctx, p)
				mustNoErr(t, err)
				cmds := e.srv.Commands()
				if len(cmds) != 1 || cmds[0].ID != id {
					t.Fatalf("commands %+v, id %d", cmds, id)
				}
				c := cmds[0]
				want := map[string]string{"en": "Help", "de": "Hilfe"}
				if c.API != bitrixtest.APIV1 || c.BotID != bot || c.Command != "help" || !c.Common || c.Hidden || !c.ExtranetSupport ||
					!reflect.DeepEqual(c.Titles, want) || c.Params["en"] != "[topic]" {
					t.Fatalf("command %+v", c)
				}
				if got, want := e.srv.CommandHandler("custom"+clientID), bitrix.CommandHandlerURL(commandHandler, clientID); got != want {
					t.Fatalf("bound handler %q, want %q", got, want)
				}
			},
		},
		{
			name: "the same (bot, command) returns the same id and updates nothing, but re-binds the handler",
			run: func(t *testing.T, e env, bot int) {
				id, err := e.c.CommandRegister(e.ctx, commandParams(bot, "help"))
				mustNoErr(t, err)
				again := commandParams(bot, "help")
				again.Hidden, again.EventHandler = true, otherHandler
				e.srv.InjectFault("imbot.command.register", bitrixtest.FaultDrop())
				got, err := e.c.CommandRegister(e.ctx, again)
				mustNoErr(t, err)
				if got != id || len(e.srv.Commands()) != 1 || e.srv.Commands()[0].Hidden {
					t.Fatalf("got %d (want %d), commands %+v", got, id, e.srv.Commands())
				}
				if h := e.srv.CommandHandler("custom" + clientID); h != bitrix.CommandHandlerURL(otherHandler, clientID) {
					t.Fatalf("handler %q not re-bound", h)
				}
			},
		},
		{
			name: "update sends the desired state but never COMMON (Bitrix cannot change it); LANG replaces every language",
			run: func(t *testing.T, e env, bot int) {
				id, err := e.c.CommandRegister(e.ctx, commandParams(bot, "help"))
				mustNoErr(t, err)
				p := commandParams(bot, "help")
				p.Common, p.Hidden = true, true
				p.Lang = []bitrix.CommandLang{{LanguageID: "en", Title: "Help me"}}
				mustNoErr(t, e.c.CommandUpdate(e.ctx, id, p))
				c := e.srv.Commands()[0]
				if c.Common || !c.Hidden || !reflect.DeepEqual(c.Titles, map[string]string{"en": "Help me"}) {
					t.Fatalf("after update %+v", c)
				}
				fields := lastParams(t, e.srv, "imbot.command.update")["FIELDS"].(map[string]any)
				if _, sent := fields["COMMON"]; sent {
					t.Fatalf("update sent COMMON: %v", fields)
				}
			},
		},
		{
			name: "validation: a name with a space, no handler, no LANG",
			run: func(t *testing.T, e env, bot int) {
				_, err := e.c.CommandRegister(e.ctx, commandParams(bot, "help me"))
				wantCode(t, err, "COMMAND_ERROR")
				p := commandParams(bot, "help")
				p.EventHandler = ""
				_, err = e.c.CommandRegister(e.ctx, p)
				wantCode(t, err, "EVENT_COMMAND_ADD_ERROR")
				p = commandParams(bot, "help")
				p.Lang = nil
				_, err = e.c.CommandRegister(e.ctx, p)
				wantCode(t, err, "LANG_ERROR")
				if !bitrix.IsTerminal(err) {
					t.Fatalf("want terminal: %v", err)
				}
			},
		},
		{
			name: "unregister twice: the second answers COMMAND_ID_ERROR, which is gone",
			run: func(t *testing.T, e env, bot int) {
				id, err := e.c.CommandRegister(e.ctx, commandParams(bot, "help"))
				mustNoErr(t, err)
				mustNoErr(t, e.c.CommandUnregister(e.ctx, id))
				err = e.c.CommandUnregister(e.ctx, id)
				wantCode(t, err, "COMMAND_ID_ERROR")
				if !bitrix.IsGone(err) || !errors.Is(err, bitrix.ErrCommandIDError) {
					t.Fatalf("want gone: %v", err)
				}
				wantCode(t, e.c.CommandUpdate(e.ctx, id, commandParams(bot, "help")), "COMMAND_ID_ERROR")
			},
		},
		{
			name: "another application's command answers APP_ID_ERROR",
			run: func(t *testing.T, e env, bot int) {
				id, err := e.c.CommandRegister(e.ctx, commandParams(bot, "help"))
				mustNoErr(t, err)
				err = webhookClient(t, e.srv, otherClient).CommandUnregister(e.ctx, id)
				wantCode(t, err, "APP_ID_ERROR")
			},
		},
		{
			name: "unregistering the bot removes its commands (a later unregister is gone)",
			run: func(t *testing.T, e env, bot int) {
				id, err := e.c.CommandRegister(e.ctx, commandParams(bot, "help"))
				mustNoErr(t, err)
				mustNoErr(t, e.c.Unregister(e.ctx, bot))
				if !bitrix.IsGone(e.c.CommandUnregister(e.ctx, id)) {
					t.Fatal("the command outlived its bot")
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

func TestCommandsV2(t *testing.T) {
	help := bitrix.CommandV2Params{
		Command: "help", Title: map[string]string{"en": "Help", "de": "Hilfe"}, Params: map[string]string{"en": "[topic]", "de": "[Thema]"},
	}
	cases := []struct {
		name string
		sim  []bitrixtest.Option
		run  func(t *testing.T, e env, bot int)
	}{
		{
			name: "register sends fields with the command, titles, params and flags",
			run: func(t *testing.T, e env, bot int) {
				p := help
				p.Common = true
				got, err := e.c.CommandRegisterV2(e.ctx, bot, p)
				mustNoErr(t, err)
				c := e.srv.Commands()[0]
				if got.ID != c.ID || got.Command != "help" || !got.Common || c.API != bitrixtest.APIV2 ||
					!reflect.DeepEqual(c.Titles, help.Title) || !reflect.DeepEqual(c.Params, help.Params) {
					t.Fatalf("answer %+v, simulated %+v", got, c)
				}
				if _, flat := lastParams(t, e.srv, "imbot.v2.Command.register")["COMMAND"]; flat {
					t.Fatal("sent the flat format")
				}
			},
		},
		{
			name: "the same command again returns the existing one, not updated",
			run: func(t *testing.T, e env, bot int) {
				first, err := e.c.CommandRegisterV2(e.ctx, bot, help)
				mustNoErr(t, err)
				p := help
				p.Title = map[string]string{"en": "Changed"}
				again, err := e.c.CommandRegisterV2(e.ctx, bot, p)
				mustNoErr(t, err)
				if again.ID != first.ID || len(e.srv.Commands()) != 1 || e.srv.Commands()[0].Titles["en"] != "Help" {
					t.Fatalf("again %+v, commands %+v", again, e.srv.Commands())
				}
			},
		},
		{
			name: "a visible command needs a title; a hidden one does not",
			run: func(t *testing.T, e env, bot int) {
				_, err := e.c.CommandRegisterV2(e.ctx, bot, bitrix.CommandV2Params{Command: "help"})
				wantCode(t, err, "COMMAND_TITLE_REQUIRED")
				_, err = e.c.CommandRegisterV2(e.ctx, bot, bitrix.CommandV2Params{Command: "secret", Hidden: true})
				mustNoErr(t, err)
			},
		},
		{
			name: "update sets titles, removes a language by null, and sends every flag",
			run: func(t *testing.T, e env, bot int) {
				c, err := e.c.CommandRegisterV2(e.ctx, bot, help)
				mustNoErr(t, err)
				p := bitrix.CommandV2Params{Title: map[string]string{"en": "Help me"}, Params: map[string]string{"en": "[what]"}, ExtranetSupport: true}
				mustNoErr(t, e.c.CommandUpdateV2(e.ctx, bot, c.ID, p, []string{"de", "en"}))
				got := e.srv.Commands()[0]
				if !reflect.DeepEqual(got.Titles, map[string]string{"en": "Help me"}) || !reflect.DeepEqual(got.Params, map[string]string{"en": "[what]"}) ||
					!got.ExtranetSupport || got.Command != "help" {
					t.Fatalf("after update %+v", got)
				}
				title := lastParams(t, e.srv, "imbot.v2.Command.update")["FIELDS"].(map[string]any)["title"].(map[string]any)
				if v, ok := title["de"]; !ok || v != nil {
					t.Fatalf("de not sent as null: %v", title)
				}
			},
		},
		{
			name: "list reads back only the portal's language",
			sim:  []bitrixtest.Option{bitrixtest.WithPortalLanguage("de")},
			run: func(t *testing.T, e env, bot int) {
				_, err := e.c.CommandRegisterV2(e.ctx, bot, help)
				mustNoErr(t, err)
				list, err := e.c.CommandListV2(e.ctx, bot)
				mustNoErr(t, err)
				if len(list) != 1 || list[0].Title != "Hilfe" || list[0].Params != "[Thema]" || list[0].Command != "help" || list[0].BotID != bot {
					t.Fatalf("list %+v", list)
				}
			},
		},
		{
			name: "unregister twice: the second answers COMMAND_NOT_FOUND, which is gone",
			run: func(t *testing.T, e env, bot int) {
				c, err := e.c.CommandRegisterV2(e.ctx, bot, help)
				mustNoErr(t, err)
				mustNoErr(t, e.c.CommandUnregisterV2(e.ctx, bot, c.ID))
				err = e.c.CommandUnregisterV2(e.ctx, bot, c.ID)
				wantCode(t, err, "COMMAND_NOT_FOUND")
				if !bitrix.IsGone(err) {
					t.Fatalf("want gone: %v", err)
				}
			},
		},
		{
			name: "a v1 command of the bot shows in the v2 list",
			run: func(t *testing.T, e env, bot int) {
				_, err := e.c.CommandRegister(e.ctx, commandParams(bot, "legacy"))
				mustNoErr(t, err)
				list, err := e.c.CommandListV2(e.ctx, bot)
				mustNoErr(t, err)
				if len(list) != 1 || list[0].Command != "legacy" || list[0].Title != "Help" {
					t.Fatalf("list %+v", list)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.sim)
			tc.run(t, e, mustRegisterV2(t, e, "support").ID)
		})
	}
}

// TestListCommandsV2 pins the drift read: one Command.list per bot, batched where the portal
// runs imbot.v2 inside batch, one call per bot where it does not.
func TestListCommandsV2(t *testing.T) {
	cases := []struct {
		name        string
		sim         []bitrixtest.Option
		wantBatches [2]int // batch requests of the first and the second read
		wantSingles [2]int // single Command.list calls of the first and the second read
	}{
		{name: "batched: one request for all bots, both times", wantBatches: [2]int{1, 1}},
		{
			name: "batch refuses imbot.v2: single calls, and the second read skips the batch",
			sim:  []bitrixtest.Option{bitrixtest.WithoutV2Batch()}, wantBatches: [2]int{1, 0}, wantSingles: [2]int{3, 3},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.sim)
			var bots []int
			for _, code := range []string{"a", "b", "c"} {
				b := mustRegisterV2(t, e, code)
				bots = append(bots, b.ID)
				_, err := e.c.CommandRegisterV2(e.ctx, b.ID, bitrix.CommandV2Params{Command: "help" + code, Title: map[string]string{"en": "Help"}})
				mustNoErr(t, err)
			}
			gone := bots[2]
			e.srv.DeleteBotRemotely(gone)
			for round, wantBatch := range tc.wantBatches {
				e.srv.ResetCalls()
				got, err := e.c.ListCommandsV2(e.ctx, append(bots, bots[0]))
				mustNoErr(t, err)
				for i, id := range bots[:2] {
					bc := got[id]
					if bc.Err != nil || len(bc.Commands) != 1 || bc.Commands[0].Command != "help"+string(rune('a'+i)) {
						t.Fatalf("round %d bot %d: %+v", round, id, bc)
					}
				}
				if !bitrix.IsGone(got[gone].Err) {
					t.Fatalf("round %d: the deleted bot's list: %+v", round, got[gone])
				}
				if n := e.srv.CallCount("batch"); n != wantBatch {
					t.Fatalf("round %d: %d batch requests, want %d", round, n, wantBatch)
				}
				singles := 0
				for _, c := range e.srv.Calls() {
					if c.Method == "imbot.v2.Command.list" && c.BatchKey == "" {
						singles++
					}
				}
				if singles != tc.wantSingles[round] {
					t.Fatalf("round %d: %d single Command.list calls, want %d", round, singles, tc.wantSingles[round])
				}
			}
		})
	}
}
