package bitrix_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

func TestScopeAndAppInfo(t *testing.T) {
	cases := []struct {
		name string
		sim  []bitrixtest.Option
		run  func(t *testing.T, e env)
	}{
		{
			name: "scope lists the granted scopes",
			sim:  []bitrixtest.Option{bitrixtest.WithScopes("imbot", "im")},
			run: func(t *testing.T, e env) {
				got, err := e.c.Scope(e.ctx)
				mustNoErr(t, err)
				if strings.Join(got, ",") != "imbot,im" {
					t.Fatalf("Scope = %v", got)
				}
			},
		},
		{
			name: "imbot calls without the imbot scope fail with insufficient_scope, an auth error",
			sim:  []bitrixtest.Option{bitrixtest.WithScopes("im")},
			run: func(t *testing.T, e env) {
				_, err := e.c.Register(e.ctx, botParams("support"))
				wantCode(t, err, "insufficient_scope")
				if !bitrix.IsAuth(err) || !bitrix.IsTerminal(err) {
					t.Fatalf("want auth and terminal: %v", err)
				}
			},
		},
		{
			name: "a wrong webhook code answers INVALID_CREDENTIALS, an auth error",
			run: func(t *testing.T, e env) {
				bad, err := bitrix.New(append(fastOpts(e.srv), bitrix.WithWebhook(e.srv.URL+"/rest/1/n0t-the-c0de/", clientID))...)
				mustNoErr(t, err)
				_, err = bad.Scope(e.ctx)
				be := wantCode(t, err, "INVALID_CREDENTIALS")
				if be.HTTPStatus != 403 || !bitrix.IsAuth(err) || !bitrix.IsTerminal(err) {
					t.Fatalf("got %+v", be)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t, tc.sim)) })
	}
}

func TestAppInfoInstalled(t *testing.T) {
	srv := newServer(t)
	tokens := srv.AddOAuthApp(oauthClient, oauthSecret)
	c := oauthClientFor(t, srv, tokens, nil)
	ctx := testContext(t)
	for _, installed := range []bool{true, false} {
		srv.SetInstalled(oauthClient, installed)
		info, err := c.AppInfo(ctx)
		mustNoErr(t, err)
		if info.Installed != installed || info.Code != oauthClient {
			t.Fatalf("installed=%v: AppInfo = %+v", installed, info)
		}
	}
}

func TestBots(t *testing.T) {
	cases := []struct {
		name string
		sim  []bitrixtest.Option
		run  func(t *testing.T, e env)
	}{
		{
			name: "register sends CODE, TYPE, handlers and properties (photo base64) and returns BOT_ID",
			run: func(t *testing.T, e env) {
				p := bitrix.BotParams{
					Code: "support", Type: bitrix.BotTypeSupervisor, Openline: true,
					EventMessageAdd: handlerURL + "/add", EventWelcomeMessage: handlerURL + "/welcome",
					EventBotDelete: handlerURL + "/delete", EventMessageUpdate: handlerURL + "/update",
					Properties: bitrix.BotProperties{
						Name: "Support", LastName: "Bot", Color: "GREEN", Email: "bot@example.com",
						Birthday: "2016-03-11", WorkPosition: "First line", Website: "https://example.com",
						Gender: "F", Photo: []byte{0x89, 'P', 'N', 'G', 0, 1, 2},
					},
				}
				id, err := e.c.Register(e.ctx, p)
				mustNoErr(t, err)
				bots := e.srv.Bots()
				if len(bots) != 1 || bots[0].ID != id {
					t.Fatalf("bots = %+v, id %d", bots, id)
				}
				b := bots[0]
				want := bitrixtest.Properties{Name: "Support", LastName: "Bot", Color: "GREEN", Email: "bot@example.com",
					Birthday: "2016-03-11", WorkPosition: "First line", Website: "https://example.com", Gender: "F"}
				gotProps := b.Properties
				gotProps.Photo = nil
				if !reflect.DeepEqual(gotProps, want) || !bytes.Equal(b.Properties.Photo, p.Properties.Photo) {
					t.Fatalf("properties = %+v", b.Properties)
				}
				if b.App != "custom"+clientID || b.Type != "S" || !b.Openline || b.Handlers.MessageUpdate != handlerURL+"/update" {
					t.Fatalf("bot = %+v", b)
				}
			},
		},
		{
			name: "the same CODE returns the existing bot and does not update its properties",
			run: func(t *testing.T, e env) {
				id := mustRegister(t, e, "support")
				p := botParams("support")
				p.Properties.Name = "Renamed"
				again, err := e.c.Register(e.ctx, p)
				mustNoErr(t, err)
				if again != id || len(e.srv.Bots()) != 1 || e.srv.Bots()[0].Properties.Name != "Support" {
					t.Fatalf("again = %d (want %d), bots %+v", again, id, e.srv.Bots())
				}
			},
		},
		{
			name: "another application's CODE gives its BOT_ID, and updating it fails with APP_ID_ERROR",
			run: func(t *testing.T, e env) {
				theirs := webhookClient(t, e.srv, otherClient)
				id, err := theirs.Register(e.ctx, botParams("support"))
				mustNoErr(t, err)
				got := mustRegister(t, e, "support")
				if got != id {
					t.Fatalf("got BOT_ID %d, want the other application's %d", got, id)
				}
				err = e.c.Update(e.ctx, got, bitrix.BotParams{Properties: bitrix.BotProperties{Name: "Mine"}})
				wantCode(t, err, "APP_ID_ERROR")
				if !errors.Is(err, bitrix.ErrAppIDError) || !bitrix.IsTerminal(err) || bitrix.IsGone(err) {
					t.Fatalf("classification of %v", err)
				}
				wantCode(t, e.c.Unregister(e.ctx, got), "APP_ID_ERROR")
			},
		},
		{
			name: "validation errors: missing code, missing name, missing handlers",
			run: func(t *testing.T, e env) {
				noCode := botParams("")
				_, err := e.c.Register(e.ctx, noCode)
				wantCode(t, err, "CODE_ERROR")
				noName := botParams("x")
				noName.Properties = bitrix.BotProperties{Color: "RED"}
				_, err = e.c.Register(e.ctx, noName)
				wantCode(t, err, "NAME_ERROR")
				noHandler := botParams("x")
				noHandler.EventHandler = ""
				noHandler.EventWelcomeMessage = handlerURL
				noHandler.EventBotDelete = handlerURL
				_, err = e.c.Register(e.ctx, noHandler)
				wantCode(t, err, "EVENT_MESSAGE_ADD_ERROR")
				if !bitrix.IsTerminal(err) || bitrix.IsRetryable(err) {
					t.Fatalf("validation error must be terminal: %v", err)
				}
			},
		},
		{
			name: "the bot quota answers MAX_COUNT_ERROR ending (max: N), even for a known CODE",
			sim:  []bitrixtest.Option{bitrixtest.WithMaxBotsPerApp(2)},
			run: func(t *testing.T, e env) {
				mustRegister(t, e, "one")
				mustRegister(t, e, "two")
				_, err := e.c.Register(e.ctx, botParams("three"))
				be := wantCode(t, err, "MAX_COUNT_ERROR")
				if !strings.HasSuffix(be.Description, "(max: 2)") || !bitrix.IsTerminal(err) {
					t.Fatalf("got %v", err)
				}
				// Older cloud code counts before the CODE lookup.
				_, err = e.c.Register(e.ctx, botParams("one"))
				wantCode(t, err, "MAX_COUNT_ERROR")
				// Another CLIENT_ID is another application with its own quota.
				_, err = webhookClient(t, e.srv, otherClient).Register(e.ctx, botParams("three"))
				mustNoErr(t, err)
			},
		},
		{
			name: "update sends CODE, handlers and properties in FIELDS but never TYPE or OPENLINE",
			run: func(t *testing.T, e env) {
				id := mustRegister(t, e, "support")
				err := e.c.Update(e.ctx, id, bitrix.BotParams{
					Code: "support2", Type: "O", Openline: true, EventHandler: otherHandler,
					Properties: bitrix.BotProperties{Name: "Renamed", Photo: []byte("img")},
				})
				mustNoErr(t, err)
				b := e.srv.Bots()[0]
				if b.Code != "support2" || b.Properties.Name != "Renamed" || b.Properties.Color != "GREEN" ||
					string(b.Properties.Photo) != "img" || b.Handlers.MessageAdd != otherHandler || b.Type != "B" || b.Openline {
					t.Fatalf("bot after update = %+v", b)
				}
				calls := e.srv.Calls()
				fields := calls[len(calls)-1].Params["FIELDS"].(map[string]any)
				if _, ok := fields["TYPE"]; ok {
					t.Fatalf("TYPE sent in update FIELDS: %v", fields)
				}
				if _, ok := fields["OPENLINE"]; ok {
					t.Fatalf("OPENLINE sent in update FIELDS: %v", fields)
				}
			},
		},
		{
			name: "update with nothing to change answers WRONG_REQUEST",
			run: func(t *testing.T, e env) {
				id := mustRegister(t, e, "support")
				wantCode(t, e.c.Update(e.ctx, id, bitrix.BotParams{}), "WRONG_REQUEST")
			},
		},
		{
			name: "unregister removes the bot and its chat apps; a second unregister is gone (BOT_ID_ERROR)",
			run: func(t *testing.T, e env) {
				id := mustRegister(t, e, "support")
				_, err := e.c.AppRegister(e.ctx, jsApp(id, "help"))
				mustNoErr(t, err)
				mustNoErr(t, e.c.Unregister(e.ctx, id))
				if len(e.srv.Bots()) != 0 || len(e.srv.Apps()) != 0 {
					t.Fatalf("left behind: bots %v apps %v", e.srv.Bots(), e.srv.Apps())
				}
				err = e.c.Unregister(e.ctx, id)
				wantCode(t, err, "BOT_ID_ERROR")
				if !bitrix.IsGone(err) || !errors.Is(err, bitrix.ErrBotNotFound) {
					t.Fatalf("want gone: %v", err)
				}
			},
		},
		{
			name: "bot.list answers [] when empty and lists every application's bots",
			run: func(t *testing.T, e env) {
				got, err := e.c.BotList(e.ctx)
				mustNoErr(t, err)
				if len(got) != 0 || got == nil {
					t.Fatalf("empty list = %#v", got)
				}
				id := mustRegister(t, e, "support")
				theirs, err := webhookClient(t, e.srv, otherClient).Register(e.ctx, bitrix.BotParams{
					Code: "lines", Type: "O", EventHandler: handlerURL, Properties: bitrix.BotProperties{Name: "Lines", LastName: "Bot"}})
				mustNoErr(t, err)
				got, err = e.c.BotList(e.ctx)
				mustNoErr(t, err)
				want := map[int]bitrix.BotInfo{
					id:     {ID: id, Name: "Support", Code: "support"},
					theirs: {ID: theirs, Name: "Lines Bot", Code: "lines", Openline: true},
				}
				if len(got) != 2 || got[id] != want[id] || got[theirs] != want[theirs] {
					t.Fatalf("BotList = %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "a bot deleted by a portal admin disappears from bot.list",
			run: func(t *testing.T, e env) {
				id := mustRegister(t, e, "support")
				e.srv.DeleteBotRemotely(id)
				got, err := e.c.BotList(e.ctx)
				mustNoErr(t, err)
				if _, ok := got[id]; ok {
					t.Fatalf("deleted bot still listed: %v", got)
				}
			},
		},
		{
			name: "re-registering a known CODE re-binds the application's handlers",
			run: func(t *testing.T, e env) {
				mustRegister(t, e, "support")
				p := botParams("support")
				p.EventHandler = otherHandler
				_, err := e.c.Register(e.ctx, p)
				mustNoErr(t, err)
				if h := e.srv.AppHandlers("custom" + clientID); h.MessageAdd != otherHandler {
					t.Fatalf("handlers = %+v", h)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t, tc.sim)) })
	}
}

func jsApp(botID int, code string) bitrix.AppParams {
	return bitrix.AppParams{
		BotID: botID, Code: code, JSMethod: "SEND", JSParam: "/help", Context: "BOT",
		Lang: []bitrix.AppLang{{LanguageID: "en", Title: "Help", Description: "Send /help"}},
	}
}

func TestApps(t *testing.T) {
	hash := strings.Repeat("a", 32)
	iframe := func(botID int) bitrix.AppParams {
		return bitrix.AppParams{
			BotID: botID, Code: "frame", IframeURL: "https://apps.example.com/frame", IframeWidth: 350,
			IframeHeight: 150, Hash: hash, IframePopup: true, Icon: []byte("icon"), Context: "CHAT", AdminOnly: true,
			Lang: []bitrix.AppLang{{LanguageID: "en", Title: "Frame", Copyright: "ACME"}},
		}
	}
	cases := []struct {
		name string
		run  func(t *testing.T, e env, botID int)
	}{
		{
			name: "register a JS command app; the same (BOT_ID, CODE) returns it without updating",
			run: func(t *testing.T, e env, botID int) {
				id, err := e.c.AppRegister(e.ctx, jsApp(botID, "help"))
				mustNoErr(t, err)
				changed := jsApp(botID, "help")
				changed.JSParam = "/other"
				again, err := e.c.AppRegister(e.ctx, changed)
				mustNoErr(t, err)
				apps := e.srv.Apps()
				if again != id || len(apps) != 1 || apps[0].JSParam != "/help" || apps[0].JSMethod != "SEND" || apps[0].Context != "BOT" {
					t.Fatalf("again %d, id %d, apps %+v", again, id, apps)
				}
			},
		},
		{
			name: "register an IFRAME app with icon, admin-only context and flags",
			run: func(t *testing.T, e env, botID int) {
				_, err := e.c.AppRegister(e.ctx, iframe(botID))
				mustNoErr(t, err)
				a := e.srv.Apps()[0]
				if a.Iframe != "https://apps.example.com/frame" || a.IframeWidth != 350 || a.Hash != hash ||
					!a.IframePopup || string(a.Icon) != "icon" || a.Context != "CHAT-admin" || a.Lang[0].Copyright != "ACME" {
					t.Fatalf("app = %+v", a)
				}
			},
		},
		{
			name: "IFRAME must be https (IFRAME_HTTPS), HASH 32 characters (HASH_ERROR)",
			run: func(t *testing.T, e env, botID int) {
				p := iframe(botID)
				p.IframeURL = "http://apps.example.com/frame"
				_, err := e.c.AppRegister(e.ctx, p)
				wantCode(t, err, "IFRAME_HTTPS")
				p = iframe(botID)
				p.Hash = "short"
				_, err = e.c.AppRegister(e.ctx, p)
				wantCode(t, err, "HASH_ERROR")
			},
		},
		{
			name: "a visible app needs LANG (LANG_ERROR); neither JS nor IFRAME is PARAMS_ERROR",
			run: func(t *testing.T, e env, botID int) {
				p := jsApp(botID, "x")
				p.Lang = nil
				_, err := e.c.AppRegister(e.ctx, p)
				wantCode(t, err, "LANG_ERROR")
				p.Hidden = true
				_, err = e.c.AppRegister(e.ctx, p)
				mustNoErr(t, err)
				_, err = e.c.AppRegister(e.ctx, bitrix.AppParams{BotID: botID, Code: "y", Lang: jsApp(0, "").Lang})
				wantCode(t, err, "PARAMS_ERROR")
			},
		},
		{
			name: "update sends every flag explicitly so turning one off takes effect",
			run: func(t *testing.T, e env, botID int) {
				p := iframe(botID)
				id, err := e.c.AppRegister(e.ctx, p)
				mustNoErr(t, err)
				p.IframePopup = false
				p.Hidden = true
				mustNoErr(t, e.c.AppUpdate(e.ctx, id, p))
				a := e.srv.Apps()[0]
				if a.IframePopup || !a.Hidden {
					t.Fatalf("app after update = %+v", a)
				}
			},
		},
		{
			name: "update or unregister of an unknown app is gone (CHAT_APP_ID_ERROR)",
			run: func(t *testing.T, e env, botID int) {
				err := e.c.AppUpdate(e.ctx, 999, jsApp(botID, "x"))
				wantCode(t, err, "CHAT_APP_ID_ERROR")
				err = e.c.AppUnregister(e.ctx, 999)
				wantCode(t, err, "CHAT_APP_ID_ERROR")
				if !bitrix.IsGone(err) || !errors.Is(err, bitrix.ErrChatAppNotFound) {
					t.Fatalf("want gone: %v", err)
				}
			},
		},
		{
			name: "unregister removes the app",
			run: func(t *testing.T, e env, botID int) {
				id, err := e.c.AppRegister(e.ctx, jsApp(botID, "help"))
				mustNoErr(t, err)
				mustNoErr(t, e.c.AppUnregister(e.ctx, id))
				if len(e.srv.Apps()) != 0 {
					t.Fatalf("apps = %+v", e.srv.Apps())
				}
			},
		},
		{
			name: "an app on another application's bot is refused with APP_ID_ERROR",
			run: func(t *testing.T, e env, botID int) {
				_, err := webhookClient(t, e.srv, otherClient).AppRegister(e.ctx, jsApp(botID, "help"))
				wantCode(t, err, "APP_ID_ERROR")
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
