package bitrix_test

import (
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// TestHTTP429IsTheRateLimit pins that an HTTP 429 other than OPERATION_TIME_LIMIT is read as
// the request-rate limit, like 503 QUERY_LIMIT_EXCEEDED: refused before running, so repeated
// for every method, batch and non-idempotent calls included.
func TestHTTP429IsTheRateLimit(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e env)
	}{
		{
			name: "a 429 with an empty body is repeated and the call succeeds",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("scope", bitrixtest.FaultEmpty(429))
				_, err := e.c.Scope(e.ctx)
				mustNoErr(t, err)
				if n := e.srv.CallCount("scope"); n != 2 {
					t.Fatalf("scope sent %d times, want 2", n)
				}
			},
		},
		{
			name: "a 429 with an unknown code on chat.add is repeated: it never ran, so one chat exists",
			run: func(t *testing.T, e env) {
				bot := mustRegister(t, e, "support")
				e.srv.InjectFault("imbot.chat.add", bitrixtest.FaultError(429, "TOO_MANY_REQUESTS", "slow down"))
				mustChat(t, e, bot, "1", 1)
				if n := len(e.srv.Chats()); n != 1 {
					t.Fatalf("%d chats, want 1", n)
				}
			},
		},
		{
			name: "a 429 that never clears is retryable, not ambiguous, and carries RetryAfter",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("imbot.bot.list", bitrixtest.Fault{Code: "QUERY_LIMIT_EXCEEDED", Status: 429, Times: -1})
				_, err := e.c.BotList(e.ctx)
				be := wantCode(t, err, "QUERY_LIMIT_EXCEEDED")
				if !bitrix.IsRetryable(err) || bitrix.IsAmbiguous(err) || be.RetryAfter <= 0 {
					t.Fatalf("got %+v", be)
				}
				if n := e.srv.CallCount("imbot.bot.list"); n != fastRetries+1 {
					t.Fatalf("sent %d times, want %d", n, fastRetries+1)
				}
			},
		},
		{
			name: "an empty 429 that never clears is retryable (HTTP_429)",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("scope", bitrixtest.Fault{Empty: true, Status: 429, Times: -1})
				_, err := e.c.Scope(e.ctx)
				wantCode(t, err, "HTTP_429")
				if !bitrix.IsRetryable(err) || bitrix.IsTerminal(err) {
					t.Fatalf("want retryable: %v", err)
				}
			},
		},
		{
			name: "a batch refused with 429 is repeated whole (it never ran)",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("batch", bitrixtest.FaultEmpty(429))
				res, err := e.c.Batch(e.ctx, []bitrix.BatchCommand{{Key: "s", Method: "scope"}}, false)
				mustNoErr(t, err)
				mustNoErr(t, res.Err("s"))
			},
		},
		{
			name: "429 OPERATION_TIME_LIMIT stays a pause of that method, not repeated",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("scope", bitrixtest.FaultError(429, "OPERATION_TIME_LIMIT", "Method is blocked"))
				_, err := e.c.Scope(e.ctx)
				wantCode(t, err, "OPERATION_TIME_LIMIT")
				if n := e.srv.CallCount("scope"); n != 1 {
					t.Fatalf("scope sent %d times, want 1", n)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t, nil)) })
	}
}
