package bitrix_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

func ptr[T any](v T) *T { return &v }

func v2Params(code string) bitrix.BotV2Params {
	return bitrix.BotV2Params{
		Code: code, EventMode: bitrix.EventModeWebhook, WebhookURL: handlerURL,
		Properties: bitrix.BotV2Properties{Name: "Support", Color: "GREEN"},
	}
}

func mustRegisterV2(t *testing.T, e env, code string) bitrix.BotV2 {
	t.Helper()
	b, err := e.c.RegisterV2(e.ctx, v2Params(code))
	if err != nil {
		t.Fatalf("RegisterV2(%q): %v", code, err)
	}
	return b
}

// lastParams returns the parameters of the last logged call of method.
func lastParams(t *testing.T, srv *bitrixtest.Server, method string) map[string]any {
	t.Helper()
	calls := srv.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if strings.EqualFold(calls[i].Method, method) {
			return calls[i].Params
		}
	}
	t.Fatalf("no call of %s", method)
	return nil
}

func TestRevision(t *testing.T) {
	cases := []struct {
		name    string
		sim     []bitrixtest.Option
		wantV2  bool
		wantErr bool
	}{
		{name: "a portal with imbot.v2 answers its REST revision, 33 or later", wantV2: true},
		{name: "a portal without imbot.v2 (ERROR_METHOD_NOT_FOUND) is no v2, not an error", sim: []bitrixtest.Option{bitrixtest.WithoutV2()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.sim)
			rev, err := e.c.Revision(e.ctx)
			mustNoErr(t, err)
			if rev.HasV2() != tc.wantV2 || (tc.wantV2 && rev.REST < bitrix.MinV2Revision) {
				t.Fatalf("Revision = %+v, HasV2 %v, want %v", rev, rev.HasV2(), tc.wantV2)
			}
			// Revision.get takes no bot token.
			if _, sent := lastParams(t, e.srv, "imbot.v2.Revision.get")["BOTTOKEN"]; sent {
				t.Fatal("Revision.get was sent a botToken")
			}
		})
	}
	t.Run("an auth failure is an error, not a portal without v2", func(t *testing.T) {
		e := newEnv(t, nil)
		bad, err := bitrix.New(append(fastOpts(e.srv), bitrix.WithWebhook(e.srv.URL+"/rest/1/n0t-the-c0de/", clientID))...)
		mustNoErr(t, err)
		_, err = bad.Revision(e.ctx)
		wantCode(t, err, "INVALID_CREDENTIALS")
	})
}

func TestBotsV2(t *testing.T) {
	cases := []struct {
		name string
		sim  []bitrixtest.Option
		run  func(t *testing.T, e env)
	}{
		{
			name: "register sends fields with code, botToken, properties, event mode and URL; the bot is a v2 bot",
			run: func(t *testing.T, e env) {
				p := v2Params("support")
				p.Type = bitrix.BotV2TypeSupervisor
				p.Hidden, p.ReactionsEnabled, p.BackgroundID = ptr(true), ptr(false), ptr("mint")
				p.Properties.Avatar = []byte{0x89, 'P', 'N', 'G'}
				b, err := e.c.RegisterV2(e.ctx, p)
				mustNoErr(t, err)
				bots := e.srv.Bots()
				if len(bots) != 1 || bots[0].ID != b.ID {
					t.Fatalf("bots %+v, got %+v", bots, b)
				}
				sb := bots[0]
				if sb.API != bitrixtest.APIV2 || sb.App != "custom"+clientID || sb.EventMode != "webhook" ||
					sb.WebhookURL != handlerURL || !sb.Hidden || sb.ReactionsEnabled || sb.BackgroundID != "mint" ||
					sb.Type != "S" || string(sb.Properties.Photo) != "\x89PNG" {
					t.Fatalf("simulated bot = %+v", sb)
				}
				if !b.Full || b.EventMode != bitrix.EventModeWebhook || b.Code != "support" || b.Type != "supervisor" || b.User.FirstName != "Support" {
					t.Fatalf("answer = %+v", b)
				}
				ps := lastParams(t, e.srv, "imbot.v2.Bot.register")
				if _, v1 := ps["CLIENT_ID"]; v1 {
					t.Fatal("a v2 call carried the v1 CLIENT_ID")
				}
				if _, top := ps["BOTTOKEN"]; top {
					t.Fatal("Bot.register carried botToken at top level, not in fields")
				}
			},
		},
		{
			name: "the same code again returns the same bot without updating it, and a lost answer is retried safely",
			run: func(t *testing.T, e env) {
				first := mustRegisterV2(t, e, "support")
				p := v2Params("support")
				p.Properties.Name = "Renamed"
				e.srv.InjectFault("imbot.v2.Bot.register", bitrixtest.FaultDrop())
				again, err := e.c.RegisterV2(e.ctx, p)
				mustNoErr(t, err)
				if again.ID != first.ID || len(e.srv.Bots()) != 1 || e.srv.Bots()[0].Properties.Name != "Support" {
					t.Fatalf("again %+v, first %+v, bots %+v", again, first, e.srv.Bots())
				}
			},
		},
		{
			name: "a code owned by another application is BOT_CODE_ALREADY_TAKEN, terminal",
			run: func(t *testing.T, e env) {
				theirs := webhookClient(t, e.srv, otherClient)
				_, err := theirs.RegisterV2(e.ctx, v2Params("support"))
				mustNoErr(t, err)
				_, err = e.c.RegisterV2(e.ctx, v2Params("support"))
				wantCode(t, err, "BOT_CODE_ALREADY_TAKEN")
				if !errors.Is(err, bitrix.ErrBotCodeTaken) || !bitrix.IsTerminal(err) {
					t.Fatalf("classification of %v", err)
				}
			},
		},
		{
			name: "the v2 limit answers BOT_LIMIT_EXCEEDED after the code lookup: a known code still registers",
			sim:  []bitrixtest.Option{bitrixtest.WithMaxBotsV2PerApp(2)},
			run: func(t *testing.T, e env) {
				mustRegisterV2(t, e, "one")
				mustRegisterV2(t, e, "two")
				_, err := e.c.RegisterV2(e.ctx, v2Params("three"))
				wantCode(t, err, "BOT_LIMIT_EXCEEDED")
				if !bitrix.IsTerminal(err) {
					t.Fatalf("want terminal: %v", err)
				}
				mustRegisterV2(t, e, "one")
			},
		},
		{
			name: "a client id over 40 characters is refused before sending, without echoing it",
			run: func(t *testing.T, e env) {
				long := strings.Repeat("t", bitrix.MaxBotTokenLength+1)
				c := webhookClient(t, e.srv, long)
				_, err := c.RegisterV2(e.ctx, v2Params("support"))
				wantCode(t, err, "BOT_TOKEN_INVALID_LENGTH")
				if strings.Contains(err.Error(), long) || !strings.Contains(err.Error(), "41 characters") {
					t.Fatalf("error %q", err)
				}
				if n := e.srv.CallCount("imbot.v2.Bot.register"); n != 0 {
					t.Fatalf("%d register calls reached the portal", n)
				}
				exact := webhookClient(t, e.srv, strings.Repeat("t", bitrix.MaxBotTokenLength))
				_, err = exact.RegisterV2(e.ctx, v2Params("support"))
				mustNoErr(t, err)
			},
		},
		{
			name: "update sends only fields (never code or type) and switching to fetch drops the webhook URL",
			run: func(t *testing.T, e env) {
				b := mustRegisterV2(t, e, "support")
				got, err := e.c.UpdateV2(e.ctx, b.ID, bitrix.BotV2Params{
					Code: "other", Type: bitrix.BotV2TypeNetwork, EventMode: bitrix.EventModeFetch,
					Properties: bitrix.BotV2Properties{Name: "Renamed", WorkPosition: "Helpdesk"},
				})
				mustNoErr(t, err)
				sb := e.srv.Bots()[0]
				if sb.Code != "support" || sb.Type != "B" || sb.EventMode != "fetch" || sb.WebhookURL != "" ||
					sb.Properties.Name != "Renamed" || sb.Properties.WorkPosition != "Helpdesk" || sb.Properties.Color != "GREEN" {
					t.Fatalf("after update %+v", sb)
				}
				if got.EventMode != bitrix.EventModeFetch || got.User.WorkPosition != "Helpdesk" {
					t.Fatalf("answer %+v", got)
				}
				fields := lastParams(t, e.srv, "imbot.v2.Bot.update")["FIELDS"].(map[string]any)
				for _, k := range []string{"code", "type", "botToken"} {
					if _, sent := fields[k]; sent {
						t.Fatalf("update sent %s: %v", k, fields)
					}
				}
				_, err = e.c.UpdateV2(e.ctx, b.ID, bitrix.BotV2Params{EventMode: bitrix.EventModeWebhook})
				wantCode(t, err, "BOT_WEBHOOK_URL_REQUIRED")
			},
		},
		{
			name: "get by code tells ours (full form) from taken (brief form) from free (BOT_NOT_FOUND, gone)",
			run: func(t *testing.T, e env) {
				mine := mustRegisterV2(t, e, "mine")
				_, err := webhookClient(t, e.srv, otherClient).RegisterV2(e.ctx, v2Params("theirs"))
				mustNoErr(t, err)
				got, err := e.c.GetBotByCodeV2(e.ctx, "mine")
				mustNoErr(t, err)
				if !got.Full || got.ID != mine.ID {
					t.Fatalf("own bot %+v", got)
				}
				got, err = e.c.GetBotByCodeV2(e.ctx, "theirs")
				mustNoErr(t, err)
				if got.Full || got.EventMode != "" {
					t.Fatalf("another application's bot in full form: %+v", got)
				}
				_, err = e.c.GetBotByCodeV2(e.ctx, "free")
				wantCode(t, err, "BOT_NOT_FOUND")
				if !bitrix.IsGone(err) {
					t.Fatalf("BOT_NOT_FOUND must be gone: %v", err)
				}
				byID, err := e.c.GetBotV2(e.ctx, mine.ID)
				mustNoErr(t, err)
				if byID.Code != "mine" {
					t.Fatalf("by id %+v", byID)
				}
			},
		},
		{
			name: "list reads every page, one request per page, only the caller's bots",
			sim:  []bitrixtest.Option{bitrixtest.WithMaxBotsV2PerApp(200)},
			run: func(t *testing.T, e env) {
				for i := range 2*bitrix.DefaultBotListV2Limit + 7 {
					mustRegisterV2(t, e, fmt.Sprintf("bot%03d", i))
				}
				_, err := webhookClient(t, e.srv, otherClient).RegisterV2(e.ctx, v2Params("theirs"))
				mustNoErr(t, err)
				e.srv.ResetCalls()
				bots, err := e.c.ListBotsV2(e.ctx, "")
				mustNoErr(t, err)
				if len(bots) != 2*bitrix.DefaultBotListV2Limit+7 {
					t.Fatalf("%d bots", len(bots))
				}
				for _, b := range bots {
					if b.Code == "theirs" || !b.Full {
						t.Fatalf("listed %+v", b)
					}
				}
				if n := e.srv.CallCount("imbot.v2.Bot.list"); n != 3 {
					t.Fatalf("%d list requests, want 3 pages", n)
				}
				typed, err := e.c.ListBotsV2(e.ctx, bitrix.BotV2TypeSupervisor)
				mustNoErr(t, err)
				if len(typed) != 0 {
					t.Fatalf("filter.type: %d bots", len(typed))
				}
			},
		},
		{
			name: "a v1 bot of the same application is listed by v2 and stays a v1 bot",
			run: func(t *testing.T, e env) {
				v1 := mustRegister(t, e, "legacy")
				bots, err := e.c.ListBotsV2(e.ctx, "")
				mustNoErr(t, err)
				if len(bots) != 1 || bots[0].ID != v1 || e.srv.Bots()[0].API != bitrixtest.APIV1 {
					t.Fatalf("v2 list %+v, simulated %+v", bots, e.srv.Bots())
				}
			},
		},
		{
			name: "unregister removes the bot and its commands; a second one is BOT_NOT_FOUND (gone)",
			run: func(t *testing.T, e env) {
				b := mustRegisterV2(t, e, "support")
				_, err := e.c.CommandRegisterV2(e.ctx, b.ID, bitrix.CommandV2Params{Command: "help", Title: map[string]string{"en": "Help"}})
				mustNoErr(t, err)
				mustNoErr(t, e.c.UnregisterV2(e.ctx, b.ID))
				if len(e.srv.Bots()) != 0 || len(e.srv.Commands()) != 0 {
					t.Fatalf("left %+v %+v", e.srv.Bots(), e.srv.Commands())
				}
				err = e.c.UnregisterV2(e.ctx, b.ID)
				wantCode(t, err, "BOT_NOT_FOUND")
				if !bitrix.IsGone(err) {
					t.Fatalf("want gone: %v", err)
				}
			},
		},
		{
			name: "another application's bot answers BOT_OWNERSHIP_ERROR, terminal",
			run: func(t *testing.T, e env) {
				theirs, err := webhookClient(t, e.srv, otherClient).RegisterV2(e.ctx, v2Params("theirs"))
				mustNoErr(t, err)
				err = e.c.UnregisterV2(e.ctx, theirs.ID)
				be := wantCode(t, err, "BOT_OWNERSHIP_ERROR")
				if be.HTTPStatus != 403 || !bitrix.IsTerminal(err) || bitrix.IsGone(err) {
					t.Fatalf("got %+v", be)
				}
			},
		},
		{
			name: "the client id (the v2 bot token) never shows in an error, even when Bitrix echoes it",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("imbot.v2.Bot.list", bitrixtest.FaultError(403, "BOT_OWNERSHIP_ERROR", "token "+clientID+" does not own the bot"))
				_, err := e.c.ListBotsV2(e.ctx, "")
				wantCode(t, err, "BOT_OWNERSHIP_ERROR")
				if strings.Contains(err.Error(), clientID) {
					t.Fatalf("error leaks the token: %v", err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t, tc.sim)) })
	}
}

func TestRotateBotTokenV2(t *testing.T) {
	const next = "acme-bots-2026"
	cases := []struct {
		name string
		sim  []bitrixtest.Option
		run  func(t *testing.T, e env, bot bitrix.BotV2)
	}{
		{
			name: "the bot moves to the new token: the old one loses it at once, the new one owns it",
			run: func(t *testing.T, e env, bot bitrix.BotV2) {
				mustNoErr(t, e.c.RotateBotTokenV2(e.ctx, bot.ID, clientID, next))
				if app := e.srv.Bots()[0].App; app != "custom"+next {
					t.Fatalf("bot app %q", app)
				}
				ps := lastParams(t, e.srv, "imbot.v2.Bot.update")
				if ps["BOTTOKEN"] != clientID || ps["FIELDS"].(map[string]any)["botToken"] != next {
					t.Fatalf("rotation sent %v", ps)
				}
				_, err := e.c.UpdateV2(e.ctx, bot.ID, bitrix.BotV2Params{Properties: bitrix.BotV2Properties{Name: "X"}})
				wantCode(t, err, "BOT_OWNERSHIP_ERROR")
				rotated := webhookClient(t, e.srv, next)
				bots, err := rotated.ListBotsV2(e.ctx, "")
				mustNoErr(t, err)
				if len(bots) != 1 || bots[0].ID != bot.ID {
					t.Fatalf("new token lists %+v", bots)
				}
			},
		},
		{
			name: "a new token over 40 characters is refused before sending",
			run: func(t *testing.T, e env, bot bitrix.BotV2) {
				long := strings.Repeat("n", 41)
				err := e.c.RotateBotTokenV2(e.ctx, bot.ID, clientID, long)
				wantCode(t, err, "BOT_TOKEN_INVALID_LENGTH")
				if e.srv.CallCount("imbot.v2.Bot.update") != 0 || strings.Contains(err.Error(), long) {
					t.Fatalf("sent, or leaked: %v", err)
				}
			},
		},
		{
			name: "a token another bot already has is BOT_TOKEN_ROTATION_FAILED",
			run: func(t *testing.T, e env, bot bitrix.BotV2) {
				_, err := webhookClient(t, e.srv, next).RegisterV2(e.ctx, v2Params("other"))
				mustNoErr(t, err)
				err = e.c.RotateBotTokenV2(e.ctx, bot.ID, clientID, next)
				wantCode(t, err, "BOT_TOKEN_ROTATION_FAILED")
				if !bitrix.IsTerminal(err) {
					t.Fatalf("want terminal: %v", err)
				}
			},
		},
		{
			name: "a lost answer is not repeated (the old token is dead by then): ambiguous, sent once",
			run: func(t *testing.T, e env, bot bitrix.BotV2) {
				e.srv.InjectFault("imbot.v2.Bot.update", bitrixtest.FaultDrop())
				err := e.c.RotateBotTokenV2(e.ctx, bot.ID, clientID, next)
				if !bitrix.IsAmbiguous(err) {
					t.Fatalf("want ambiguous, got %v", err)
				}
				if n := e.srv.CallCount("imbot.v2.Bot.update"); n != 1 {
					t.Fatalf("sent %d times", n)
				}
				if e.srv.Bots()[0].App != "custom"+next {
					t.Fatal("the dropped rotation did not take effect in the simulator")
				}
			},
		},
		{
			name: "neither token shows in an error, even when Bitrix echoes them",
			run: func(t *testing.T, e env, bot bitrix.BotV2) {
				e.srv.InjectFault("imbot.v2.Bot.update", bitrixtest.FaultError(400, "BOT_TOKEN_ROTATION_FAILED", "rotation "+clientID+" -> "+next+" failed"))
				err := e.c.RotateBotTokenV2(e.ctx, bot.ID, clientID, next)
				wantCode(t, err, "BOT_TOKEN_ROTATION_FAILED")
				if strings.Contains(err.Error(), next) || strings.Contains(err.Error(), clientID) {
					t.Fatalf("error leaks a token: %v", err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.sim)
			bot := mustRegisterV2(t, e, "support")
			e.srv.ResetCalls()
			tc.run(t, e, bot)
		})
	}
}

func TestBotsV2OverOAuth(t *testing.T) {
	srv := newServer(t)
	c := oauthClientFor(t, srv, srv.AddOAuthApp(oauthClient, oauthSecret), nil)
	ctx := testContext(t)
	b, err := c.RegisterV2(ctx, v2Params("support"))
	mustNoErr(t, err)
	ps := lastParams(t, srv, "imbot.v2.Bot.register")
	if _, sent := ps["FIELDS"].(map[string]any)["botToken"]; sent || ps["BOTTOKEN"] != nil {
		t.Fatalf("an OAuth client sent a bot token: %v", ps)
	}
	if app := srv.Bots()[0].App; app != oauthClient {
		t.Fatalf("bot app %q, want the OAuth application", app)
	}
	list, err := c.ListBotsV2(ctx, "")
	mustNoErr(t, err)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("list %+v", list)
	}
	if err := c.RotateBotTokenV2(ctx, b.ID, "a", "b"); err == nil {
		t.Fatal("an OAuth application rotated a bot token")
	}
}
