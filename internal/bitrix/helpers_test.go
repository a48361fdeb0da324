package bitrix_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// Credentials used across the tests; TestSecretsNeverLeak checks none of them shows up in an
// error or a metric label.
const (
	webhookCode  = "s3cr3tw3bh00kc0de"
	clientID     = "acme-bots"
	oauthClient  = "local.65f0aa"
	oauthSecret  = "0auth-cl1ent-s3cret"
	fastRetries  = 3
	testUserID   = 1
	otherClient  = "other-team"
	handlerURL   = "https://bots.example.com/b24/events"
	otherHandler = "https://other.example.com/events"
)

// env is a simulated portal and a webhook client of it.
type env struct {
	srv *bitrixtest.Server
	c   *bitrix.Client
	ctx context.Context
}

// fastOpts keep the tests quick: no client-side throttling unless a test asks for it, and
// millisecond backoffs.
func fastOpts(srv *bitrixtest.Server) []bitrix.Option {
	return []bitrix.Option{
		bitrix.WithCABundle(srv.CAPEM()),
		bitrix.WithRateLimit(10000, 10000),
		bitrix.WithRetries(fastRetries, time.Millisecond, 5*time.Millisecond),
	}
}

func newServer(t *testing.T, opts ...bitrixtest.Option) *bitrixtest.Server {
	t.Helper()
	srv := bitrixtest.NewServer(append([]bitrixtest.Option{bitrixtest.WithoutRateLimit()}, opts...)...)
	t.Cleanup(srv.Close)
	return srv
}

func newEnv(t *testing.T, simOpts []bitrixtest.Option, clientOpts ...bitrix.Option) env {
	t.Helper()
	srv := newServer(t, simOpts...)
	return env{srv: srv, c: webhookClient(t, srv, clientID, clientOpts...), ctx: testContext(t)}
}

func webhookClient(t *testing.T, srv *bitrixtest.Server, client string, opts ...bitrix.Option) *bitrix.Client {
	t.Helper()
	hook := srv.AddWebhook(testUserID, webhookCode)
	all := append(fastOpts(srv), bitrix.WithWebhook(hook, client))
	c, err := bitrix.New(append(all, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func oauthClientFor(t *testing.T, srv *bitrixtest.Server, tokens bitrix.Tokens, store bitrix.TokenStore, opts ...bitrix.Option) *bitrix.Client {
	t.Helper()
	all := append(fastOpts(srv), bitrix.WithOAuth(srv.URL, oauthClient, oauthSecret, srv.TokenURL(), tokens, store))
	c, err := bitrix.New(append(all, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func botParams(code string) bitrix.BotParams {
	return bitrix.BotParams{
		Code:         code,
		EventHandler: handlerURL,
		Properties:   bitrix.BotProperties{Name: "Support", Color: "GREEN"},
	}
}

func mustRegister(t *testing.T, e env, code string) int {
	t.Helper()
	id, err := e.c.Register(e.ctx, botParams(code))
	if err != nil {
		t.Fatalf("Register(%q): %v", code, err)
	}
	return id
}

func mustChat(t *testing.T, e env, botID int, entityID string, users ...int) int {
	t.Helper()
	id, err := e.c.ChatAdd(e.ctx, bitrix.ChatAddParams{
		BotID: botID, Title: "Incidents", Color: "RED", Users: users,
		EntityType: "B24OPS", EntityID: entityID,
	})
	if err != nil {
		t.Fatalf("ChatAdd: %v", err)
	}
	return id
}

// wantCode fails unless err is a *bitrix.Error with the code (matched like errors.Is does).
func wantCode(t *testing.T, err error, code string) *bitrix.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var be *bitrix.Error
	if !errors.As(err, &be) {
		t.Fatalf("got %T %v, want *bitrix.Error %s", err, err, code)
	}
	if !errors.Is(err, &bitrix.Error{Code: code}) {
		t.Fatalf("got code %s (%v), want %s", be.Code, err, code)
	}
	return be
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}
