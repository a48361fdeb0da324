package bitrix_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// The portal's bucket at 100/s instead of 2/s: the same arithmetic, fifty times faster.
// Scaling the rate up scales network delays up too (a 20 ms TLS handshake is 2 tokens at
// 100/s but 0.04 at 2/s), so the workers' connections are opened before measuring.
func TestLimiterKeepsUnderThePortalBucket(t *testing.T) {
	const burst, perSecond, calls, workers = 20, 100.0, 200, 8
	srv := bitrixtest.NewServer(bitrixtest.WithRateLimit(burst, perSecond))
	t.Cleanup(srv.Close)
	hook := srv.AddWebhook(testUserID, webhookCode)
	c, err := bitrix.New(bitrix.WithWebhook(hook, clientID), bitrix.WithCABundle(srv.CAPEM()),
		bitrix.WithRateLimit(perSecond, burst), bitrix.WithRetries(0, time.Millisecond, time.Millisecond))
	mustNoErr(t, err)
	ctx := testContext(t)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { _, _ = c.Scope(ctx) })
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // both buckets back at rest
	srv.ResetCalls()

	errs := make(chan error, calls)
	jobs := make(chan struct{}, calls)
	for range calls {
		jobs <- struct{}{}
	}
	close(jobs)
	for range workers {
		wg.Go(func() {
			for range jobs {
				if _, err := c.Scope(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call failed: %v", err)
	}
	if n := srv.Count503(); n != 0 {
		t.Fatalf("the portal refused %d requests with QUERY_LIMIT_EXCEEDED", n)
	}
	if n := srv.CallCount("scope"); n != calls {
		t.Fatalf("%d calls reached the portal, want %d", n, calls)
	}
}

func TestQueryLimitExceededIsRetried(t *testing.T) {
	// No client-side limiter to speak of: the portal refuses, the client backs off and retries.
	srv := bitrixtest.NewServer(bitrixtest.WithRateLimit(5, 100))
	t.Cleanup(srv.Close)
	c := webhookClient(t, srv, clientID, bitrix.WithRetries(20, 5*time.Millisecond, 40*time.Millisecond))
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if _, err := c.Scope(ctx); err != nil {
				t.Errorf("Scope: %v", err)
			}
		})
	}
	wg.Wait()
	if srv.Count503() == 0 {
		t.Fatal("expected the portal to refuse some requests")
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e env)
	}{
		{
			name: "an HTML 502 from a proxy on a read is tolerated and retried",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("scope", bitrixtest.FaultHTML(502))
				_, err := e.c.Scope(e.ctx)
				mustNoErr(t, err)
				if n := e.srv.CallCount("scope"); n != 2 {
					t.Fatalf("scope sent %d times, want 2", n)
				}
			},
		},
		{
			name: "an HTML 5xx that never clears gives HTTP_5xx with the status, retryable",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("imbot.bot.list", bitrixtest.Fault{HTML: true, Status: 504, Times: -1})
				_, err := e.c.BotList(e.ctx)
				be := wantCode(t, err, "HTTP_504")
				if be.HTTPStatus != 504 || !bitrix.IsRetryable(err) || strings.Contains(err.Error(), "<html") {
					t.Fatalf("got %v", err)
				}
				if n := e.srv.CallCount("imbot.bot.list"); n != fastRetries+1 {
					t.Fatalf("sent %d times, want %d", n, fastRetries+1)
				}
			},
		},
		{
			name: "an empty 503 body is tolerated and retried",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("scope", bitrixtest.FaultEmpty(503))
				_, err := e.c.Scope(e.ctx)
				mustNoErr(t, err)
			},
		},
		{
			name: "an HTML 502 on chat.add is not retried and is ambiguous",
			run: func(t *testing.T, e env) {
				bot := mustRegister(t, e, "support")
				e.srv.InjectFault("imbot.chat.add", bitrixtest.FaultHTML(502))
				_, err := e.c.ChatAdd(e.ctx, bitrix.ChatAddParams{BotID: bot, Users: []int{1}})
				wantCode(t, err, "HTTP_502")
				if !bitrix.IsAmbiguous(err) || !bitrix.IsRetryable(err) {
					t.Fatalf("want ambiguous and retryable: %v", err)
				}
				if n := e.srv.CallCount("imbot.chat.add"); n != 1 {
					t.Fatalf("chat.add sent %d times", n)
				}
			},
		},
		{
			name: "a dropped connection after chat.add ran: not retried, ambiguous, exactly one chat",
			run: func(t *testing.T, e env) {
				bot := mustRegister(t, e, "support")
				e.srv.InjectFault("imbot.chat.add", bitrixtest.FaultDrop())
				_, err := e.c.ChatAdd(e.ctx, bitrix.ChatAddParams{BotID: bot, Users: []int{1}, EntityType: "B24OPS", EntityID: "x"})
				wantCode(t, err, "NETWORK_ERROR")
				if !bitrix.IsAmbiguous(err) {
					t.Fatalf("want ambiguous: %v", err)
				}
				if n := len(e.srv.Chats()); n != 1 || e.srv.CallCount("imbot.chat.add") != 1 {
					t.Fatalf("%d chats, %d calls", n, e.srv.CallCount("imbot.chat.add"))
				}
				// The caller re-reads before trying again, and finds it.
				if _, found, err := e.c.ChatGet(e.ctx, bot, "B24OPS", "x"); err != nil || !found {
					t.Fatalf("ChatGet: %v %v", found, err)
				}
			},
		},
		{
			name: "a dropped connection after chat.user.add: not retried",
			run: func(t *testing.T, e env) {
				bot := mustRegister(t, e, "support")
				chat := mustChat(t, e, bot, "x", 1)
				e.srv.InjectFault("imbot.chat.user.add", bitrixtest.FaultDrop())
				err := e.c.ChatUserAdd(e.ctx, bot, chat, []int{5})
				if !bitrix.IsAmbiguous(err) || e.srv.CallCount("imbot.chat.user.add") != 1 {
					t.Fatalf("err %v, %d calls", err, e.srv.CallCount("imbot.chat.user.add"))
				}
			},
		},
		{
			name: "a dropped connection after register: retried (CODE makes it idempotent), one bot",
			run: func(t *testing.T, e env) {
				e.srv.InjectFault("imbot.register", bitrixtest.FaultDrop())
				id, err := e.c.Register(e.ctx, botParams("support"))
				mustNoErr(t, err)
				bots := e.srv.Bots()
				if e.srv.CallCount("imbot.register") != 2 || len(bots) != 1 || bots[0].ID != id {
					t.Fatalf("%d calls, bots %+v", e.srv.CallCount("imbot.register"), bots)
				}
			},
		},
		{
			name: "a repeated update that already ran answers WRONG_REQUEST, reported as ambiguous",
			run: func(t *testing.T, e env) {
				bot := mustRegister(t, e, "support")
				chat := mustChat(t, e, bot, "x", 1)
				e.srv.InjectFault("imbot.chat.updateTitle", bitrixtest.FaultDrop())
				err := e.c.ChatUpdateTitle(e.ctx, bot, chat, "New")
				wantCode(t, err, "WRONG_REQUEST")
				if !bitrix.IsAmbiguous(err) {
					t.Fatalf("want ambiguous: %v", err)
				}
				if ch, _ := e.srv.Chat(chat); ch.Title != "New" {
					t.Fatalf("title = %q", ch.Title)
				}
			},
		},
		{
			name: "at the quota, the retry of a lost register answers MAX_COUNT_ERROR, reported as ambiguous",
			run: func(t *testing.T, e env) {
				mustRegister(t, e, "one")
				mustRegister(t, e, "two")
				e.srv.InjectFault("imbot.register", bitrixtest.FaultDrop())
				// The quota is 3: the lost attempt took the last slot.
				_, err := e.c.Register(e.ctx, botParams("three"))
				wantCode(t, err, "MAX_COUNT_ERROR")
				if !bitrix.IsAmbiguous(err) || bitrix.IsTerminal(err) {
					t.Fatalf("want ambiguous, not terminal: %v", err)
				}
				bots, err := e.c.BotList(e.ctx)
				mustNoErr(t, err)
				if len(bots) != 3 {
					t.Fatalf("bots = %v", bots)
				}
			},
		},
		{
			name: "a Bitrix INTERNAL_SERVER_ERROR on an unregister is retried",
			run: func(t *testing.T, e env) {
				bot := mustRegister(t, e, "support")
				e.srv.InjectFault("imbot.unregister", bitrixtest.FaultError(500, "INTERNAL_SERVER_ERROR", "boom"))
				mustNoErr(t, e.c.Unregister(e.ctx, bot))
			},
		},
		{
			name: "a connection refused before sending is retried even for chat.add",
			run: func(t *testing.T, e env) {
				dead := bitrixtest.NewServer()
				hook := dead.AddWebhook(1, webhookCode)
				dead.Close()
				c, err := bitrix.New(append(fastOpts(e.srv), bitrix.WithWebhook(hook, clientID))...)
				mustNoErr(t, err)
				_, err = c.ChatAdd(e.ctx, bitrix.ChatAddParams{BotID: 1, Users: []int{1}})
				wantCode(t, err, "NETWORK_ERROR")
				if bitrix.IsAmbiguous(err) || !bitrix.IsRetryable(err) {
					t.Fatalf("a refused dial is not ambiguous but retryable: %v", err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t, []bitrixtest.Option{bitrixtest.WithMaxBotsPerApp(3)})) })
	}
}

func TestRedirect(t *testing.T) {
	t.Run("a portal whose domain changed is not followed: the error names the new host", func(t *testing.T) {
		e := newEnv(t, nil)
		newURL := e.srv.MoveDomain()
		before := len(e.srv.Calls())
		_, err := e.c.Scope(e.ctx)
		be := wantCode(t, err, "REDIRECT_ERROR")
		newHost := strings.TrimPrefix(newURL, "https://")
		if !strings.Contains(be.Error(), "the portal moved to "+newHost) || !strings.Contains(be.Error(), "spec.url") {
			t.Fatalf("error %q does not tell the user where the portal moved", be)
		}
		if !bitrix.IsTerminal(err) {
			t.Fatalf("a move needs a spec change, so it is terminal: %v", err)
		}
		if got := e.c.Endpoint(); got == newURL {
			t.Fatalf("the client moved to %s", got)
		}
		if n := len(e.srv.Calls()) - before; n != 0 {
			t.Fatalf("the new host received %d calls; the webhook code would have gone there", n)
		}
	})
	t.Run("a second redirect within one call is an error", func(t *testing.T) {
		e := newEnv(t, nil)
		e.srv.InjectFault("scope", bitrixtest.Fault{RedirectTo: e.srv.URL, Times: 2})
		_, err := e.c.Scope(e.ctx)
		wantCode(t, err, "REDIRECT_ERROR")
	})
}

func TestContextCancellation(t *testing.T) {
	cases := []struct {
		name string
		opts []bitrix.Option
		prep func(e env)
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{
			name: "a slow answer is abandoned when the deadline passes",
			prep: func(e env) { e.srv.InjectFault("scope", bitrixtest.FaultLatency(3*time.Second)) },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
		{
			name: "the limiter wait gives up at the deadline",
			opts: []bitrix.Option{bitrix.WithLimiter(rate.NewLimiter(0.01, 1))},
			prep: func(e env) { _, _ = e.c.Scope(e.ctx) }, // takes the only token
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
		{
			name: "a backoff sleep ends with the context",
			opts: []bitrix.Option{bitrix.WithRetries(5, 5*time.Second, 5*time.Second)},
			prep: func(e env) {
				e.srv.InjectFault("scope", bitrixtest.Fault{Code: "QUERY_LIMIT_EXCEEDED", Status: 503, Times: -1})
			},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name: "a cancelled context sends nothing",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			want: context.Canceled,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, tc.opts...)
			if tc.prep != nil {
				tc.prep(e)
			}
			e.srv.ResetCalls()
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := e.c.Scope(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
}

func TestOperationTimeLimitPausesOnlyThatMethod(t *testing.T) {
	e := newEnv(t, nil)
	reset := time.Now().Add(time.Hour)
	e.srv.LimitOperatingTime("imbot.bot.list", reset)
	_, err := e.c.BotList(e.ctx)
	be := wantCode(t, err, "OPERATION_TIME_LIMIT")
	if be.HTTPStatus != 429 || !bitrix.IsRetryable(err) || bitrix.RetryAfter(err) < 59*time.Minute {
		t.Fatalf("got %v (retry after %s)", err, bitrix.RetryAfter(err))
	}
	// Paused on the client: not sent again until the window resets.
	_, err = e.c.BotList(e.ctx)
	wantCode(t, err, "OPERATION_TIME_LIMIT")
	if n := e.srv.CallCount("imbot.bot.list"); n != 1 {
		t.Fatalf("bot.list sent %d times during the pause", n)
	}
	// Other methods proceed.
	if _, err := e.c.Scope(e.ctx); err != nil {
		t.Fatalf("Scope during another method's pause: %v", err)
	}
}

func TestOperationTimeLimitInsideBatchPausesTheMethod(t *testing.T) {
	e := newEnv(t, nil)
	bot := mustRegister(t, e, "support")
	chat := mustChat(t, e, bot, "x", 1)
	e.srv.LimitOperatingTime("imbot.dialog.get", time.Now().Add(time.Hour))
	res, err := e.c.Batch(e.ctx, []bitrix.BatchCommand{
		bitrix.DialogGetCommand("d", bot, chat), bitrix.ChatUserListCommand("u", bot, chat)}, false)
	mustNoErr(t, err)
	wantCode(t, res.Err("d"), "OPERATION_TIME_LIMIT")
	mustNoErr(t, res.Err("u"))
	if bitrix.RetryAfter(res.Err("d")) < 59*time.Minute {
		t.Fatalf("RetryAfter = %s", bitrix.RetryAfter(res.Err("d")))
	}
	e.srv.ResetCalls()
	_, err = e.c.DialogGet(e.ctx, bot, chat)
	wantCode(t, err, "OPERATION_TIME_LIMIT")
	if n := len(e.srv.Calls()); n != 0 {
		t.Fatalf("a paused method was sent (%d calls)", n)
	}
}
