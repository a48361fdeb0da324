package bitrixtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// answer is a decoded simulator response.
type answer struct {
	status int
	body   map[string]any
}

func (a answer) code() string {
	s, _ := a.body["error"].(string)
	return s
}

func (a answer) result() any { return a.body["result"] }

type portal struct {
	t    *testing.T
	srv  *bitrixtest.Server
	hook string
	hc   *http.Client
}

func newPortal(t *testing.T, opts ...bitrixtest.Option) portal {
	t.Helper()
	srv := bitrixtest.NewServer(append([]bitrixtest.Option{bitrixtest.WithoutRateLimit()}, opts...)...)
	t.Cleanup(srv.Close)
	return portal{t: t, srv: srv, hook: srv.AddWebhook(1, "c0de"), hc: srv.HTTPClient()}
}

func (p portal) do(req *http.Request) answer {
	p.t.Helper()
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatalf("%s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	if err := json.Unmarshal(b, &a.body); err != nil {
		p.t.Fatalf("%s: body %q is not JSON: %v", req.URL.Path, b, err)
	}
	return a
}

// postJSON calls method through the webhook with a JSON body.
func (p portal) postJSON(method string, body any) answer {
	p.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, p.hook+method, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	return p.do(req)
}

// postForm calls method through the webhook with a form body (raw PHP-bracket query).
func (p portal) postForm(method, form string) answer {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.hook+method, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.do(req)
}

const handler = "https://bots.example.com/events"

func registerBody(code string) map[string]any {
	return map[string]any{"CODE": code, "EVENT_HANDLER": handler, "CLIENT_ID": "app",
		"PROPERTIES": map[string]any{"NAME": "Bot"}}
}

func TestWebhookAuthentication(t *testing.T) {
	p := newPortal(t)
	cases := []struct {
		name       string
		url        string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"an unknown webhook code is INVALID_CREDENTIALS", p.srv.URL + "/rest/1/wrong/scope", `{}`, 403, "INVALID_CREDENTIALS"},
		{"a known code works, .json suffix allowed", p.hook + "scope.json", `{}`, 200, ""},
		{"imbot.* without CLIENT_ID is ACCESS_DENIED", p.hook + "imbot.bot.list", `{}`, 403, "ACCESS_DENIED"},
		{"imbot.* with CLIENT_ID works", p.hook + "imbot.bot.list", `{"CLIENT_ID":"app"}`, 200, ""},
		{"top-level keys are case-insensitive", p.hook + "imbot.bot.list", `{"client_id":"app"}`, 200, ""},
		{"an unknown method is ERROR_METHOD_NOT_FOUND", p.hook + "no.such.method", `{}`, 404, "ERROR_METHOD_NOT_FOUND"},
		{"OAuth without auth is NO_AUTH_FOUND", p.srv.URL + "/rest/scope", `{}`, 401, "NO_AUTH_FOUND"},
		{"OAuth with an unknown token is invalid_token", p.srv.URL + "/rest/scope", `{"auth":"nope"}`, 401, "invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			a := p.do(req)
			if a.status != tc.wantStatus || a.code() != tc.wantCode {
				t.Fatalf("got %d %q, want %d %q (%v)", a.status, a.code(), tc.wantStatus, tc.wantCode, a.body)
			}
			if _, ok := a.body["time"]; !ok && tc.wantStatus != 404 {
				t.Fatalf("no time block in %v", a.body)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	p := newPortal(t, bitrixtest.WithScopes("im"))
	a := p.postJSON("imbot.register", registerBody("x"))
	if a.status != 403 || a.code() != "insufficient_scope" {
		t.Fatalf("got %d %v", a.status, a.body)
	}
}

func TestFormBodiesAndNestedKeys(t *testing.T) {
	p := newPortal(t)
	t.Run("PHP brackets in a form body", func(t *testing.T) {
		a := p.postForm("imbot.register", "CODE=form&EVENT_HANDLER="+url.QueryEscape(handler)+
			"&CLIENT_ID=app&PROPERTIES[NAME]=Form+Bot&PROPERTIES[COLOR]=RED")
		if a.status != 200 {
			t.Fatalf("got %d %v", a.status, a.body)
		}
		b := p.srv.Bots()[0]
		if b.Properties.Name != "Form Bot" || b.Properties.Color != "RED" || b.App != "customapp" {
			t.Fatalf("bot = %+v", b)
		}
	})
	t.Run("lower-case nested keys are ignored, as Bitrix does", func(t *testing.T) {
		a := p.postJSON("imbot.register", map[string]any{"CODE": "lower", "EVENT_HANDLER": handler,
			"CLIENT_ID": "app", "PROPERTIES": map[string]any{"name": "Bot"}})
		if a.code() != "NAME_ERROR" {
			t.Fatalf("got %v", a.body)
		}
	})
	t.Run("USERS[] lists in a form body", func(t *testing.T) {
		bot := int(p.postJSON("imbot.register", registerBody("lists")).result().(float64))
		a := p.postForm("imbot.chat.add", fmt.Sprintf("CLIENT_ID=app&BOT_ID=%d&USERS[]=5&USERS[]=6", bot))
		if a.status != 200 {
			t.Fatalf("got %v", a.body)
		}
		ch, _ := p.srv.Chat(int(a.result().(float64)))
		if len(ch.Members) != 3 {
			t.Fatalf("members = %v", ch.Members)
		}
	})
}

func TestBotRegistration(t *testing.T) {
	p := newPortal(t, bitrixtest.WithMaxBotsPerApp(1))
	first := p.postJSON("imbot.register", registerBody("one"))
	if first.status != 200 {
		t.Fatalf("got %v", first.body)
	}
	second := p.postJSON("imbot.register", registerBody("two"))
	if second.code() != "MAX_COUNT_ERROR" || !strings.HasSuffix(second.body["error_description"].(string), "(max: 1)") {
		t.Fatalf("got %v", second.body)
	}
	list := p.postJSON("imbot.bot.list", map[string]any{"CLIENT_ID": "app"})
	bots := list.result().(map[string]any)
	entry := bots[fmt.Sprint(first.result())].(map[string]any)
	if len(entry) != 4 || entry["CODE"] != "one" || entry["OPENLINE"] != "N" {
		t.Fatalf("bot.list entry = %v", entry)
	}
	p.srv.DeleteBotRemotely(int(first.result().(float64)))
	empty := p.postJSON("imbot.bot.list", map[string]any{"CLIENT_ID": "app"})
	if l, ok := empty.result().([]any); !ok || len(l) != 0 {
		t.Fatalf("empty bot.list = %#v, want []", empty.result())
	}
}

func TestBatchSimulation(t *testing.T) {
	p := newPortal(t)
	bot := p.postJSON("imbot.register", registerBody("b")).result()
	t.Run("commands run in the order sent; failures in result_error; always 200", func(t *testing.T) {
		p.srv.ResetCalls()
		body := `{"halt":0,"CLIENT_ID":"app","cmd":{` +
			`"z":"imbot.chat.add?BOT_ID=` + fmt.Sprint(bot) + `&USERS[0]=1&ENTITY_TYPE=T&ENTITY_ID=1",` +
			`"a":"imbot.chat.get?ENTITY_TYPE=T&ENTITY_ID=1",` +
			`"m":"imbot.unregister?BOT_ID=999"}}`
		req, _ := http.NewRequest(http.MethodPost, p.hook+"batch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		a := p.do(req)
		if a.status != 200 {
			t.Fatalf("status %d", a.status)
		}
		res := a.result().(map[string]any)
		results := res["result"].(map[string]any)
		if got := results["a"].(map[string]any)["ID"]; got != results["z"] {
			t.Fatalf("chat.get ran before chat.add? %v", results)
		}
		errs := res["result_error"].(map[string]any)
		if errs["m"].(map[string]any)["error"] != "BOT_ID_ERROR" {
			t.Fatalf("result_error = %v", errs)
		}
		if n := p.srv.CallCount("batch"); n != 1 {
			t.Fatalf("batch logged %d times", n)
		}
	})
	t.Run("empty results and errors come back as []", func(t *testing.T) {
		a := p.postJSON("batch", map[string]any{"cmd": map[string]any{"s": "scope"}})
		res := a.result().(map[string]any)
		if l, ok := res["result_error"].([]any); !ok || len(l) != 0 {
			t.Fatalf("result_error = %#v", res["result_error"])
		}
	})
	t.Run("a nested batch is refused per command", func(t *testing.T) {
		a := p.postJSON("batch", map[string]any{"cmd": map[string]any{"n": "batch?cmd[x]=scope"}})
		errs := a.result().(map[string]any)["result_error"].(map[string]any)
		if errs["n"].(map[string]any)["error"] != "ERROR_BATCH_METHOD_NOT_ALLOWED" {
			t.Fatalf("got %v", errs)
		}
	})
	t.Run("more than 50 commands: ERROR_BATCH_LENGTH_EXCEEDED", func(t *testing.T) {
		cmd := map[string]any{}
		for i := range 51 {
			cmd[fmt.Sprint("k", i)] = "scope"
		}
		a := p.postJSON("batch", map[string]any{"cmd": cmd})
		if a.code() != "ERROR_BATCH_LENGTH_EXCEEDED" {
			t.Fatalf("got %v", a.body)
		}
	})
	t.Run("halt stops at the first failure", func(t *testing.T) {
		body := `{"halt":1,"cmd":{"bad":"imbot.unregister?BOT_ID=999&CLIENT_ID=app","after":"scope"}}`
		req, _ := http.NewRequest(http.MethodPost, p.hook+"batch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res := p.do(req).result().(map[string]any)
		if l, ok := res["result"].([]any); !ok || len(l) != 0 {
			t.Fatalf("result = %#v, want [] (after did not run)", res["result"])
		}
	})
}

func TestLeakyBucket(t *testing.T) {
	p := newPortal(t, bitrixtest.WithRateLimit(3, 0.001))
	var statuses []int
	for range 5 {
		statuses = append(statuses, p.postJSON("scope", nil).status)
	}
	if fmt.Sprint(statuses) != "[200 200 200 503 503]" || p.srv.Count503() != 2 {
		t.Fatalf("statuses %v, 503s %d", statuses, p.srv.Count503())
	}
	a := p.postJSON("scope", nil)
	if a.code() != "QUERY_LIMIT_EXCEEDED" {
		t.Fatalf("got %v", a.body)
	}
	// One batch is one request.
	p2 := newPortal(t, bitrixtest.WithRateLimit(1, 0.001))
	cmd := map[string]any{}
	for i := range 50 {
		cmd[fmt.Sprint(i)] = "scope"
	}
	if a := p2.postJSON("batch", map[string]any{"cmd": cmd}); a.status != 200 {
		t.Fatalf("a 50-command batch against a bucket of 1: %v", a.body)
	}
}

func TestOperatingTimeLimit(t *testing.T) {
	p := newPortal(t)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	p.srv.LimitOperatingTime("imbot.bot.list", until)
	a := p.postJSON("imbot.bot.list", map[string]any{"CLIENT_ID": "app"})
	if a.status != 429 || a.code() != "OPERATION_TIME_LIMIT" {
		t.Fatalf("got %d %v", a.status, a.body)
	}
	reset := a.body["time"].(map[string]any)["operating_reset_at"].(float64)
	if int64(reset) != until.Unix() {
		t.Fatalf("operating_reset_at %v, want %d", reset, until.Unix())
	}
	if a := p.postJSON("scope", nil); a.status != 200 {
		t.Fatalf("another method is blocked too: %v", a.body)
	}
	ok := p.postJSON("scope", nil)
	if r, _ := ok.body["time"].(map[string]any)["operating_reset_at"].(float64); r <= float64(time.Now().Unix()) {
		t.Fatalf("success without a future operating_reset_at: %v", ok.body["time"])
	}
}

func TestTokenEndpointRotates(t *testing.T) {
	p := newPortal(t, bitrixtest.WithAccessTokenTTL(time.Hour))
	tokens := p.srv.AddOAuthApp("local.app", "secret")
	refresh := func(rt string) answer {
		q := url.Values{"grant_type": {"refresh_token"}, "client_id": {"local.app"}, "client_secret": {"secret"}, "refresh_token": {rt}}
		req, _ := http.NewRequest(http.MethodGet, p.srv.TokenURL()+"?"+q.Encode(), nil)
		return p.do(req)
	}
	call := func(token string) answer {
		req, _ := http.NewRequest(http.MethodPost, p.srv.URL+"/rest/scope", strings.NewReader(`{"auth":"`+token+`"}`))
		req.Header.Set("Content-Type", "application/json")
		return p.do(req)
	}
	if a := call(tokens.AccessToken); a.status != 200 {
		t.Fatalf("fresh token: %v", a.body)
	}
	p.srv.ExpireAccessTokens()
	if a := call(tokens.AccessToken); a.status != 401 || a.code() != "expired_token" {
		t.Fatalf("expired token: %d %v", a.status, a.body)
	}
	a := refresh(tokens.RefreshToken)
	newAccess, _ := a.body["access_token"].(string)
	newRefresh, _ := a.body["refresh_token"].(string)
	if a.status != 200 || newAccess == "" || newRefresh == tokens.RefreshToken {
		t.Fatalf("refresh: %v", a.body)
	}
	if a := refresh(tokens.RefreshToken); a.code() != "invalid_grant" {
		t.Fatalf("old refresh token: %v", a.body)
	}
	if a := call(newAccess); a.status != 200 {
		t.Fatalf("new token: %v", a.body)
	}
	if n := p.srv.RefreshCount("local.app"); n != 1 {
		t.Fatalf("RefreshCount = %d", n)
	}
}

func TestFaults(t *testing.T) {
	p := newPortal(t)
	t.Run("an Error fault answers the code and does not run the call", func(t *testing.T) {
		p.srv.InjectFault("imbot.register", bitrixtest.FaultError(500, "INTERNAL_SERVER_ERROR", "boom"))
		if a := p.postJSON("imbot.register", registerBody("f")); a.status != 500 || a.code() != "INTERNAL_SERVER_ERROR" {
			t.Fatalf("got %d %v", a.status, a.body)
		}
		if len(p.srv.Bots()) != 0 {
			t.Fatal("the call ran")
		}
	})
	t.Run("a drop runs the call and resets the connection", func(t *testing.T) {
		p.srv.InjectFault("imbot.register", bitrixtest.FaultDrop())
		b, _ := json.Marshal(registerBody("dropped"))
		req, _ := http.NewRequest(http.MethodPost, p.hook+"imbot.register", strings.NewReader(string(b)))
		if _, err := p.hc.Do(req); err == nil {
			t.Fatal("the client got an answer")
		}
		if len(p.srv.Bots()) != 1 {
			t.Fatal("the call did not run")
		}
	})
	t.Run("\"*\" applies to any method, Times counts calls", func(t *testing.T) {
		p.srv.InjectFault("*", bitrixtest.Fault{HTML: true, Status: 502, Times: 2})
		for range 2 {
			req, _ := http.NewRequest(http.MethodPost, p.hook+"scope", nil)
			resp, err := p.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
		if a := p.postJSON("scope", nil); a.status != 200 {
			t.Fatalf("third call: %v", a.body)
		}
	})
}

func TestConcurrentUseIsSafe(t *testing.T) {
	p := newPortal(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			p.postJSON("imbot.register", registerBody(fmt.Sprint("c", i%3)))
			_ = p.srv.Calls()
			_ = p.srv.Bots()
		})
	}
	wg.Wait()
	if n := len(p.srv.Bots()); n != 3 {
		t.Fatalf("%d bots for 3 codes", n)
	}
}
