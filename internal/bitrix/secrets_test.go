package bitrix_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// TestSecretsNeverLeak drives every kind of failure through a webhook client and an OAuth
// client and checks that no error message and no metric label carries the webhook code, a
// token, the client secret or the webhook path.
func TestSecretsNeverLeak(t *testing.T) {
	const wrongCode = "wr0ng-w3bh00k-c0de"
	srv := newServer(t)
	ctx := testContext(t)
	hook := webhookClient(t, srv, clientID)
	wrong, err := bitrix.New(append(fastOpts(srv), bitrix.WithWebhook(srv.URL+"/rest/1/"+wrongCode+"/", clientID))...)
	mustNoErr(t, err)
	tokens := srv.AddOAuthApp(oauthClient, oauthSecret)
	oauth := oauthClientFor(t, srv, tokens, nil)
	dead := bitrixtest.NewServer()
	deadHook := dead.AddWebhook(1, webhookCode)
	dead.Close()
	offline, err := bitrix.New(append(fastOpts(srv), bitrix.WithWebhook(deadHook, clientID))...)
	mustNoErr(t, err)

	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	collectErr := func(err error) { errs = append(errs, err) }

	collect(wrong.Scope(ctx))                                // INVALID_CREDENTIALS
	collect(offline.Scope(ctx))                              // connection refused: *url.Error carries the URL
	collect(hook.Register(ctx, bitrix.BotParams{Code: "x"})) // validation error
	srv.InjectFault("scope", bitrixtest.FaultHTML(502))      // HTML body
	srv.InjectFault("scope", bitrixtest.Fault{Empty: true, Status: 500, Times: 5})
	collect(hook.Scope(ctx))                                  // 5xx after retries
	srv.InjectFault("imbot.chat.add", bitrixtest.FaultDrop()) // connection reset
	collect(hook.ChatAdd(ctx, bitrix.ChatAddParams{Users: []int{1}}))
	srv.InjectFault("scope", bitrixtest.FaultError(400, "WRONG_REQUEST", "bad request to /rest/1/"+webhookCode+"/scope"))
	collect(hook.Scope(ctx)) // a description echoing the path
	collect(hook.Batch(ctx, []bitrix.BatchCommand{{Key: "a", Method: "imbot.unregister", Params: map[string]any{"BOT_ID": 1}}}, false))
	res, _ := hook.Batch(ctx, []bitrix.BatchCommand{{Key: "a", Method: "imbot.unregister", Params: map[string]any{"BOT_ID": 1}}}, false)
	collectErr(res.Err("a"))

	srv.ExpireAccessTokens()
	collect(oauth.Scope(ctx)) // refresh, then fine
	rotated := oauth.Tokens()
	srv.InjectFault("scope", bitrixtest.FaultError(401, "expired_token", "token expired"))
	srv.InjectFault("scope", bitrixtest.FaultError(401, "expired_token", "token "+rotated.AccessToken+" expired"))
	collect(oauth.Scope(ctx)) // refresh again, retry fails
	stale := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: tokens.RefreshToken}, nil)
	collect(stale.Scope(ctx)) // invalid_grant from the token endpoint (secret in its query)

	secrets := []string{webhookCode, wrongCode, oauthSecret, tokens.AccessToken, tokens.RefreshToken,
		rotated.AccessToken, rotated.RefreshToken, oauth.Tokens().AccessToken, oauth.Tokens().RefreshToken, "/rest/"}
	failures := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failures++
		msg := err.Error()
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("error %q contains secret %q", msg, s)
			}
		}
	}
	if failures < 9 {
		t.Fatalf("only %d of the provoked calls failed; the test lost its teeth", failures)
	}

	reg := prometheus.NewRegistry()
	bitrix.RegisterMetrics(reg)
	bitrix.RegisterMetrics(reg) // twice is harmless
	families, err := reg.Gather()
	mustNoErr(t, err)
	labels := 0
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels++
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("metric %s label %s=%q contains secret %q", f.GetName(), l.GetName(), l.GetValue(), s)
					}
				}
			}
		}
	}
	if labels == 0 {
		t.Fatal("no metric labels gathered")
	}
	for _, name := range []string{"b24ops_bitrix_requests_total", "b24ops_bitrix_rate_limiter_wait_seconds",
		"b24ops_bitrix_retries_total", "b24ops_bitrix_token_refreshes_total"} {
		if !names[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}
