package bitrixtest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

const token = "app" // the same application as CLIENT_ID=app: "customapp"

func v2Register(code string) map[string]any {
	return map[string]any{"fields": map[string]any{"code": code, "botToken": token,
		"properties": map[string]any{"name": "Bot"}}}
}

func withFields(body map[string]any, set map[string]any) map[string]any {
	f := map[string]any{}
	for k, v := range body["fields"].(map[string]any) {
		f[k] = v
	}
	for k, v := range set {
		if v == nil {
			delete(f, k)
			continue
		}
		f[k] = v
	}
	return map[string]any{"fields": f}
}

func resultBotID(t *testing.T, a answer) int {
	t.Helper()
	res, ok := a.result().(map[string]any)
	if !ok {
		t.Fatalf("no result: %d %v", a.status, a.body)
	}
	return int(res["bot"].(map[string]any)["id"].(float64))
}

func TestBotRegisterV2Validation(t *testing.T) {
	long := strings.Repeat("x", 41)
	cases := []struct {
		name       string
		body       map[string]any
		wantStatus int
		wantCode   string
	}{
		{"no fields: BOT_TOKEN_NOT_SPECIFIED (a webhook's register token is fields.botToken)", map[string]any{"botToken": token}, 400, "BOT_TOKEN_NOT_SPECIFIED"},
		{"no code: BOT_CODE_REQUIRED", withFields(v2Register("a"), map[string]any{"code": ""}), 400, "BOT_CODE_REQUIRED"},
		{"no botToken under a webhook: BOT_TOKEN_NOT_SPECIFIED", withFields(v2Register("a"), map[string]any{"botToken": nil}), 400, "BOT_TOKEN_NOT_SPECIFIED"},
		{"botToken at top level only is not the register's token", map[string]any{"botToken": token, "fields": map[string]any{"code": "a", "properties": map[string]any{"name": "Bot"}}}, 400, "BOT_TOKEN_NOT_SPECIFIED"},
		{"a 41-character botToken: BOT_TOKEN_INVALID_LENGTH", withFields(v2Register("a"), map[string]any{"botToken": long}), 400, "BOT_TOKEN_INVALID_LENGTH"},
		{"a 40-character botToken registers", withFields(v2Register("a"), map[string]any{"botToken": long[:40]}), 200, ""},
		{"a code that is not a string: BOT_CODE_REQUIRED", withFields(v2Register("a"), map[string]any{"code": 5}), 400, "BOT_CODE_REQUIRED"},
		{"no properties: BOT_PROPERTIES_REQUIRED", withFields(v2Register("a"), map[string]any{"properties": nil}), 400, "BOT_PROPERTIES_REQUIRED"},
		{"properties without a name: BOT_PROPERTIES_REQUIRED", withFields(v2Register("a"), map[string]any{"properties": map[string]any{"lastName": "X"}}), 400, "BOT_PROPERTIES_REQUIRED"},
		{"UPPER nested keys are not v2 keys", map[string]any{"fields": map[string]any{"CODE": "a", "botToken": token, "properties": map[string]any{"name": "Bot"}}}, 400, "BOT_CODE_REQUIRED"},
		{"an unknown type: BOT_INVALID_TYPE", withFields(v2Register("a"), map[string]any{"type": "B"}), 400, "BOT_INVALID_TYPE"},
		{"an unknown event mode: BOT_INVALID_EVENT_MODE", withFields(v2Register("a"), map[string]any{"eventMode": "push"}), 400, "BOT_INVALID_EVENT_MODE"},
		{"webhook mode without a URL: BOT_WEBHOOK_URL_REQUIRED", withFields(v2Register("a"), map[string]any{"eventMode": "webhook"}), 400, "BOT_WEBHOOK_URL_REQUIRED"},
		{"a webhook URL that is no URL: BOT_INVALID_CALLBACK", withFields(v2Register("a"), map[string]any{"eventMode": "webhook", "webhookUrl": "not a url"}), 400, "BOT_INVALID_CALLBACK"},
		{"an avatar that is not base64: BOT_AVATAR_INCORRECT_TYPE", withFields(v2Register("a"), map[string]any{"properties": map[string]any{"name": "Bot", "avatar": "%%%"}}), 400, "BOT_AVATAR_INCORRECT_TYPE"},
		{"a flag that is neither boolean nor Y/N is refused", withFields(v2Register("a"), map[string]any{"isHidden": "yes"}), 400, "INVALID_ARGUMENT"},
		{"Y/N flags are accepted", withFields(v2Register("a"), map[string]any{"isHidden": "Y"}), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t)
			a := p.postJSON("imbot.v2.Bot.register", tc.body)
			if a.status != tc.wantStatus || a.code() != tc.wantCode {
				t.Fatalf("got %d %q, want %d %q (%v)", a.status, a.code(), tc.wantStatus, tc.wantCode, a.body)
			}
		})
	}
}

func TestBotsV2Simulation(t *testing.T) {
	cases := []struct {
		name string
		opts []bitrixtest.Option
		run  func(t *testing.T, p portal)
	}{
		{
			name: "a v2 bot records its API, event mode and URL; a v1 bot is a v1 bot",
			run: func(t *testing.T, p portal) {
				p.postJSON("imbot.register", registerBody("legacy"))
				resultBotID(t, p.postJSON("imbot.v2.Bot.register", withFields(v2Register("modern"), map[string]any{"eventMode": "webhook", "webhookUrl": handler})))
				resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register("polling")))
				bots := p.srv.Bots()
				if bots[0].API != bitrixtest.APIV1 || bots[0].EventMode != "" ||
					bots[1].API != bitrixtest.APIV2 || bots[1].EventMode != "webhook" || bots[1].WebhookURL != handler ||
					bots[2].API != bitrixtest.APIV2 || bots[2].EventMode != "fetch" || !bots[2].ReactionsEnabled {
					t.Fatalf("bots %+v", bots)
				}
			},
		},
		{
			name: "CLIENT_ID=X and botToken=X are one application: v2 lists the v1 bot, v1 sees the v2 bot",
			run: func(t *testing.T, p portal) {
				p.postJSON("imbot.register", registerBody("legacy"))
				resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register("modern")))
				list := p.postJSON("imbot.v2.Bot.list", map[string]any{"botToken": token}).result().(map[string]any)
				if n := len(list["bots"].([]any)); n != 2 {
					t.Fatalf("v2 list %v", list)
				}
				if n := len(p.postJSON("imbot.bot.list", map[string]any{"CLIENT_ID": token}).result().(map[string]any)); n != 2 {
					t.Fatalf("v1 list has %d bots", n)
				}
				other := p.postJSON("imbot.v2.Bot.list", map[string]any{"botToken": "other"}).result().(map[string]any)
				if n := len(other["bots"].([]any)); n != 0 {
					t.Fatalf("another token lists %d bots", n)
				}
			},
		},
		{
			name: "a code is unique portal-wide: the same application gets its bot back unchanged, another gets BOT_CODE_ALREADY_TAKEN",
			run: func(t *testing.T, p portal) {
				id := resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register("support")))
				again := resultBotID(t, p.postJSON("imbot.v2.Bot.register", withFields(v2Register("support"), map[string]any{"properties": map[string]any{"name": "New"}})))
				if again != id || p.srv.Bots()[0].Properties.Name != "Bot" {
					t.Fatalf("again %d (want %d), %+v", again, id, p.srv.Bots())
				}
				taken := p.postJSON("imbot.v2.Bot.register", withFields(v2Register("support"), map[string]any{"botToken": "other"}))
				if taken.code() != "BOT_CODE_ALREADY_TAKEN" {
					t.Fatalf("got %v", taken.body)
				}
				// A v1 bot's code is taken for v2 too.
				p.postJSON("imbot.register", map[string]any{"CODE": "legacy", "EVENT_HANDLER": handler, "CLIENT_ID": "someone", "PROPERTIES": map[string]any{"NAME": "L"}})
				if a := p.postJSON("imbot.v2.Bot.register", v2Register("legacy")); a.code() != "BOT_CODE_ALREADY_TAKEN" {
					t.Fatalf("got %v", a.body)
				}
			},
		},
		{
			name: "the v2 limit is checked after the code lookup; the v1 limit stays 5",
			opts: []bitrixtest.Option{bitrixtest.WithMaxBotsV2PerApp(6)},
			run: func(t *testing.T, p portal) {
				for i := range 6 {
					resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register(fmt.Sprint("b", i))))
				}
				if a := p.postJSON("imbot.v2.Bot.register", v2Register("b6")); a.code() != "BOT_LIMIT_EXCEEDED" {
					t.Fatalf("got %v", a.body)
				}
				resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register("b0")))
				if a := p.postJSON("imbot.register", registerBody("v1")); a.code() != "MAX_COUNT_ERROR" {
					t.Fatalf("v1 register past 5: %v", a.body)
				}
			},
		},
		{
			name: "get: the owner gets the full form, others the brief one; PARAMS_REQUIRED, BOT_NOT_FOUND",
			run: func(t *testing.T, p portal) {
				resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register("support")))
				full := p.postJSON("imbot.v2.Bot.get", map[string]any{"botToken": token, "code": "support"}).result().(map[string]any)["bot"].(map[string]any)
				brief := p.postJSON("imbot.v2.Bot.get", map[string]any{"botToken": "other", "code": "support"}).result().(map[string]any)["bot"].(map[string]any)
				if full["eventMode"] != "fetch" || full["moduleId"] != "rest" || brief["eventMode"] != nil || brief["moduleId"] != nil {
					t.Fatalf("full %v brief %v", full, brief)
				}
				if _, ok := full["appId"]; ok {
					t.Fatal("appId was removed from the answers on 2026-05-01")
				}
				if a := p.postJSON("imbot.v2.Bot.get", map[string]any{"botToken": token}); a.code() != "PARAMS_REQUIRED" {
					t.Fatalf("got %v", a.body)
				}
				if a := p.postJSON("imbot.v2.Bot.get", map[string]any{"botToken": token, "code": "none"}); a.code() != "BOT_NOT_FOUND" {
					t.Fatalf("got %v", a.body)
				}
			},
		},
		{
			name: "list pages with limit and offset and says hasNextPage",
			run: func(t *testing.T, p portal) {
				for i := range 5 {
					resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register(fmt.Sprint("b", i))))
				}
				page := p.postJSON("imbot.v2.Bot.list", map[string]any{"botToken": token, "limit": 2, "offset": 4}).result().(map[string]any)
				if len(page["bots"].([]any)) != 1 || page["hasNextPage"] != false || len(page["users"].([]any)) != 1 {
					t.Fatalf("last page %v", page)
				}
				first := p.postJSON("imbot.v2.Bot.list", map[string]any{"botToken": token, "limit": 2}).result().(map[string]any)
				if len(first["bots"].([]any)) != 2 || first["hasNextPage"] != true {
					t.Fatalf("first page %v", first)
				}
			},
		},
		{
			name: "update: ownership, code and type fixed, fetch drops the URL; BOT_ID_REQUIRED, BOT_NOT_FOUND, BOT_OWNERSHIP_ERROR (403)",
			run: func(t *testing.T, p portal) {
				id := resultBotID(t, p.postJSON("imbot.v2.Bot.register", withFields(v2Register("support"), map[string]any{"eventMode": "webhook", "webhookUrl": handler})))
				a := p.postJSON("imbot.v2.Bot.update", map[string]any{"botToken": token, "botId": id,
					"fields": map[string]any{"code": "x", "type": "network", "eventMode": "fetch", "backgroundId": "nope"}})
				b := p.srv.Bots()[0]
				if a.status != 200 || b.Code != "support" || b.Type != "B" || b.EventMode != "fetch" || b.WebhookURL != "" || b.BackgroundID != "" {
					t.Fatalf("got %v, bot %+v", a.body, b)
				}
				for _, tc := range []struct {
					body   map[string]any
					status int
					code   string
				}{
					{map[string]any{"botToken": token, "fields": map[string]any{}}, 400, "BOT_ID_REQUIRED"},
					{map[string]any{"botToken": token, "botId": 999, "fields": map[string]any{}}, 400, "BOT_NOT_FOUND"},
					{map[string]any{"botToken": "other", "botId": id, "fields": map[string]any{}}, 403, "BOT_OWNERSHIP_ERROR"},
					{map[string]any{"botId": id, "fields": map[string]any{}}, 400, "BOT_TOKEN_NOT_SPECIFIED"},
				} {
					if a := p.postJSON("imbot.v2.Bot.update", tc.body); a.status != tc.status || a.code() != tc.code {
						t.Errorf("%v: got %d %v, want %d %s", tc.body, a.status, a.body, tc.status, tc.code)
					}
				}
			},
		},
		{
			name: "rotation: the old token loses the bot at once; a token in use is BOT_TOKEN_ROTATION_FAILED",
			run: func(t *testing.T, p portal) {
				id := resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register("support")))
				resultBotID(t, p.postJSON("imbot.v2.Bot.register", withFields(v2Register("theirs"), map[string]any{"botToken": "taken"})))
				if a := p.postJSON("imbot.v2.Bot.update", map[string]any{"botToken": token, "botId": id, "fields": map[string]any{"botToken": "taken"}}); a.code() != "BOT_TOKEN_ROTATION_FAILED" {
					t.Fatalf("got %v", a.body)
				}
				if a := p.postJSON("imbot.v2.Bot.update", map[string]any{"botToken": token, "botId": id, "fields": map[string]any{"botToken": strings.Repeat("n", 41)}}); a.code() != "BOT_TOKEN_INVALID_LENGTH" {
					t.Fatalf("got %v", a.body)
				}
				if a := p.postJSON("imbot.v2.Bot.update", map[string]any{"botToken": token, "botId": id, "fields": map[string]any{"botToken": "fresh"}}); a.status != 200 {
					t.Fatalf("got %v", a.body)
				}
				if a := p.postJSON("imbot.v2.Bot.get", map[string]any{"botToken": token, "botId": id}); a.result().(map[string]any)["bot"].(map[string]any)["moduleId"] != nil {
					t.Fatal("the old token still sees the full form")
				}
				if a := p.postJSON("imbot.v2.Bot.unregister", map[string]any{"botToken": token, "botId": id}); a.code() != "BOT_OWNERSHIP_ERROR" {
					t.Fatalf("old token: %v", a.body)
				}
				if a := p.postJSON("imbot.v2.Bot.unregister", map[string]any{"botToken": "fresh", "botId": id}); a.status != 200 {
					t.Fatalf("new token: %v", a.body)
				}
			},
		},
		{
			name: "shared rotation lets two bots move onto one token",
			opts: []bitrixtest.Option{bitrixtest.WithSharedTokenRotation()},
			run: func(t *testing.T, p portal) {
				for _, code := range []string{"a", "b"} {
					id := resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register(code)))
					if a := p.postJSON("imbot.v2.Bot.update", map[string]any{"botToken": token, "botId": id, "fields": map[string]any{"botToken": "fresh"}}); a.status != 200 {
						t.Fatalf("%s: %v", code, a.body)
					}
				}
			},
		},
		{
			name: "without v2, every imbot.v2 method is ERROR_METHOD_NOT_FOUND and v1 still works",
			opts: []bitrixtest.Option{bitrixtest.WithoutV2()},
			run: func(t *testing.T, p portal) {
				for _, m := range []string{"imbot.v2.Revision.get", "imbot.v2.Bot.register", "imbot.v2.Command.list"} {
					if a := p.postJSON(m, v2Register("a")); a.status != 404 || a.code() != "ERROR_METHOD_NOT_FOUND" {
						t.Fatalf("%s: %d %v", m, a.status, a.body)
					}
				}
				if a := p.postJSON("imbot.register", registerBody("legacy")); a.status != 200 {
					t.Fatalf("v1: %v", a.body)
				}
			},
		},
		{
			name: "Revision.get needs no bot token; Event.get is counted",
			run: func(t *testing.T, p portal) {
				rev := p.postJSON("imbot.v2.Revision.get", map[string]any{}).result().(map[string]any)
				if rev["rest"].(float64) < 33 {
					t.Fatalf("revision %v", rev)
				}
				p.postJSON("imbot.v2.Event.get", map[string]any{"botToken": token, "botId": 1})
				if n := p.srv.EventGetCount(); n != 1 {
					t.Fatalf("EventGetCount = %d", n)
				}
			},
		},
		{
			name: "the bucket can answer 429 instead of 503",
			opts: []bitrixtest.Option{bitrixtest.WithRateLimit(1, 0.001), bitrixtest.WithRateLimitStatus(http.StatusTooManyRequests)},
			run: func(t *testing.T, p portal) {
				p.postJSON("scope", map[string]any{})
				if a := p.postJSON("scope", map[string]any{}); a.status != 429 || a.code() != "QUERY_LIMIT_EXCEEDED" {
					t.Fatalf("got %d %v", a.status, a.body)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// newPortal turns the bucket off; options given later win.
			tc.run(t, newPortal(t, tc.opts...))
		})
	}
}

func TestCommandsSimulation(t *testing.T) {
	cases := []struct {
		name string
		opts []bitrixtest.Option
		run  func(t *testing.T, p portal, bot int)
	}{
		{
			name: "v1: register validates, is idempotent by (bot, command), and binds one handler per application with ?CLIENT_ID",
			run: func(t *testing.T, p portal, bot int) {
				body := func(cmd, handlerURL string) map[string]any {
					return map[string]any{"CLIENT_ID": token, "BOT_ID": bot, "COMMAND": cmd, "EVENT_COMMAND_ADD": handlerURL,
						"LANG": []any{map[string]any{"LANGUAGE_ID": "en", "TITLE": "Help", "PARAMS": "x"}}}
				}
				first := p.postJSON("imbot.command.register", body("/help", handler))
				again := p.postJSON("imbot.command.register", body("help", handler+"/2"))
				if first.status != 200 || again.result() != first.result() || len(p.srv.Commands()) != 1 || p.srv.Commands()[0].Command != "help" {
					t.Fatalf("first %v again %v commands %+v", first.body, again.body, p.srv.Commands())
				}
				if h := p.srv.CommandHandler("custom" + token); h != handler+"/2?CLIENT_ID="+token {
					t.Fatalf("handler %q", h)
				}
				for _, tc := range []struct {
					body map[string]any
					code string
				}{
					{body("help me", handler), "COMMAND_ERROR"},
					{body("help_me", handler), "COMMAND_ERROR"},
					{body("", handler), "COMMAND_ERROR"},
					{body("x", ""), "EVENT_COMMAND_ADD_ERROR"},
					{map[string]any{"CLIENT_ID": token, "BOT_ID": bot, "COMMAND": "x", "EVENT_COMMAND_ADD": handler}, "LANG_ERROR"},
					{map[string]any{"CLIENT_ID": "other", "BOT_ID": bot, "COMMAND": "x", "EVENT_COMMAND_ADD": handler}, "APP_ID_ERROR"},
					{map[string]any{"CLIENT_ID": token, "BOT_ID": 999, "COMMAND": "x", "EVENT_COMMAND_ADD": handler}, "BOT_ID_ERROR"},
				} {
					if a := p.postJSON("imbot.command.register", tc.body); a.code() != tc.code {
						t.Errorf("%v: got %v, want %s", tc.body, a.body, tc.code)
					}
				}
			},
		},
		{
			name: "v1: update cannot change COMMON, LANG replaces every language, empty FIELDS is WRONG_REQUEST",
			run: func(t *testing.T, p portal, bot int) {
				id := p.postForm("imbot.command.register", fmt.Sprintf("CLIENT_ID=%s&BOT_ID=%d&COMMAND=help&EVENT_COMMAND_ADD=%s&COMMON=N"+
					"&LANG[0][LANGUAGE_ID]=en&LANG[0][TITLE]=Help&LANG[1][LANGUAGE_ID]=de&LANG[1][TITLE]=Hilfe", token, bot, url.QueryEscape(handler))).result()
				a := p.postJSON("imbot.command.update", map[string]any{"CLIENT_ID": token, "COMMAND_ID": id,
					"FIELDS": map[string]any{"COMMON": "Y", "HIDDEN": "Y", "LANG": []any{map[string]any{"LANGUAGE_ID": "en", "TITLE": "Help!"}}}})
				c := p.srv.Commands()[0]
				if a.status != 200 || c.Common || !c.Hidden || len(c.Titles) != 1 || c.Titles["en"] != "Help!" {
					t.Fatalf("got %v, command %+v", a.body, c)
				}
				if a := p.postJSON("imbot.command.update", map[string]any{"CLIENT_ID": token, "COMMAND_ID": id, "FIELDS": map[string]any{}}); a.code() != "WRONG_REQUEST" {
					t.Fatalf("got %v", a.body)
				}
				if a := p.postJSON("imbot.command.unregister", map[string]any{"CLIENT_ID": token, "COMMAND_ID": id}); a.status != 200 {
					t.Fatalf("got %v", a.body)
				}
				if a := p.postJSON("imbot.command.unregister", map[string]any{"CLIENT_ID": token, "COMMAND_ID": id}); a.code() != "COMMAND_ID_ERROR" {
					t.Fatalf("got %v", a.body)
				}
			},
		},
		{
			name: "v2: fields required (the flat format is gone), title required unless hidden, idempotent",
			run: func(t *testing.T, p portal, bot int) {
				flat := p.postJSON("imbot.v2.Command.register", map[string]any{"botToken": token, "botId": bot, "command": "help", "title": map[string]any{"en": "Help"}})
				if flat.code() != "COMMAND_REQUIRED" {
					t.Fatalf("flat format: %v", flat.body)
				}
				reg := func(f map[string]any) answer {
					return p.postJSON("imbot.v2.Command.register", map[string]any{"botToken": token, "botId": bot, "fields": f})
				}
				if a := reg(map[string]any{"command": 7, "title": map[string]any{"en": "x"}}); a.code() != "COMMAND_NAME_INVALID" {
					t.Fatalf("got %v", a.body)
				}
				if a := reg(map[string]any{"command": "help"}); a.code() != "COMMAND_TITLE_REQUIRED" {
					t.Fatalf("got %v", a.body)
				}
				if a := reg(map[string]any{"command": "secret", "hidden": true}); a.status != 200 {
					t.Fatalf("got %v", a.body)
				}
				first := reg(map[string]any{"command": "help", "title": map[string]any{"en": "Help"}})
				again := reg(map[string]any{"command": "help", "title": map[string]any{"en": "Other"}})
				cmd := first.result().(map[string]any)["command"].(map[string]any)
				if cmd["command"] != "/help" || again.result().(map[string]any)["command"].(map[string]any)["id"] != cmd["id"] {
					t.Fatalf("first %v again %v", first.body, again.body)
				}
			},
		},
		{
			name: "v2: update by language (string sets, null removes, absent keeps; params only for title's languages); list shows the portal's language",
			opts: []bitrixtest.Option{bitrixtest.WithPortalLanguage("de")},
			run: func(t *testing.T, p portal, bot int) {
				reg := p.postJSON("imbot.v2.Command.register", map[string]any{"botToken": token, "botId": bot, "fields": map[string]any{
					"command": "help", "title": map[string]any{"en": "Help", "de": "Hilfe", "fr": "Aide"}, "params": map[string]any{"en": "t", "de": "t"}}})
				id := reg.result().(map[string]any)["command"].(map[string]any)["id"]
				a := p.postJSON("imbot.v2.Command.update", map[string]any{"botToken": token, "botId": bot, "commandId": id, "fields": map[string]any{
					"title": map[string]any{"de": "Hilfe!", "en": nil}, "params": map[string]any{"de": "Thema", "fr": "sujet"}}})
				c := p.srv.Commands()[0]
				if a.status != 200 || len(c.Titles) != 2 || c.Titles["de"] != "Hilfe!" || c.Titles["fr"] != "Aide" ||
					c.Params["de"] != "Thema" || c.Params["fr"] != "" || c.Params["en"] != "" {
					t.Fatalf("got %v, command %+v", a.body, c)
				}
				list := p.postJSON("imbot.v2.Command.list", map[string]any{"botToken": token, "botId": bot}).result().(map[string]any)["commands"].([]any)
				entry := list[0].(map[string]any)
				if len(list) != 1 || entry["title"] != "Hilfe!" || entry["params"] != "Thema" {
					t.Fatalf("list %v", list)
				}
				if a := p.postJSON("imbot.v2.Command.update", map[string]any{"botToken": token, "botId": bot, "commandId": 999, "fields": map[string]any{}}); a.code() != "COMMAND_NOT_FOUND" {
					t.Fatalf("got %v", a.body)
				}
			},
		},
		{
			name: "v2: Command.list runs inside batch unless the portal refuses imbot.v2 there",
			opts: []bitrixtest.Option{bitrixtest.WithoutV2Batch()},
			run: func(t *testing.T, p portal, bot int) {
				body := fmt.Sprintf(`{"halt":0,"cmd":{"a":"imbot.v2.Command.list?botId=%d&botToken=%s","b":"imbot.bot.list?CLIENT_ID=%s"}}`, bot, token, token)
				req, _ := http.NewRequest(http.MethodPost, p.hook+"batch", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				res := p.do(req).result().(map[string]any)
				errs := res["result_error"].(map[string]any)
				if errs["a"].(map[string]any)["error"] != "ERROR_BATCH_METHOD_NOT_ALLOWED" || res["result"].(map[string]any)["b"] == nil {
					t.Fatalf("batch %v", res)
				}
			},
		},
		{
			name: "deleting the bot removes its commands",
			run: func(t *testing.T, p portal, bot int) {
				p.postJSON("imbot.v2.Command.register", map[string]any{"botToken": token, "botId": bot, "fields": map[string]any{"command": "help", "hidden": true}})
				p.srv.DeleteBotRemotely(bot)
				if n := len(p.srv.Commands()); n != 0 {
					t.Fatalf("%d commands left", n)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t, tc.opts...)
			tc.run(t, p, resultBotID(t, p.postJSON("imbot.v2.Bot.register", v2Register("support"))))
		})
	}
}
