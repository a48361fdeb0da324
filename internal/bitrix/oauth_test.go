package bitrix_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// recordingStore is a TokenStore that remembers what it was given.
type recordingStore struct {
	mu    sync.Mutex
	saved []bitrix.Tokens
	fail  error
}

func (s *recordingStore) SaveTokens(_ context.Context, t bitrix.Tokens) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = append(s.saved, t)
	return s.fail
}

func (s *recordingStore) all() []bitrix.Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bitrix.Tokens(nil), s.saved...)
}

func TestOAuthSingleFlightRefresh(t *testing.T) {
	srv := newServer(t)
	tokens := srv.AddOAuthApp(oauthClient, oauthSecret)
	store := &recordingStore{}
	c := oauthClientFor(t, srv, tokens, store)
	ctx := testContext(t)
	if _, err := c.Scope(ctx); err != nil {
		t.Fatalf("Scope with fresh tokens: %v", err)
	}

	srv.ExpireAccessTokens()
	const callers = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			if _, err := c.BotList(ctx); err != nil {
				t.Errorf("BotList: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()

	if n := srv.RefreshCount(oauthClient); n != 1 {
		t.Fatalf("%d refreshes for %d concurrent callers, want exactly 1", n, callers)
	}
	saved := store.all()
	if len(saved) != 1 {
		t.Fatalf("store got %d token sets, want 1", len(saved))
	}
	if saved[0] != c.Tokens() || saved[0].RefreshToken == tokens.RefreshToken || saved[0].ExpiresAt.IsZero() {
		t.Fatalf("store got %+v, client holds %+v", saved[0], c.Tokens())
	}
	// What the store holds is what a restarted operator would start from: it must work.
	restarted := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: saved[0].RefreshToken}, nil)
	if _, err := restarted.Scope(ctx); err != nil {
		t.Fatalf("the stored refresh token does not work: %v", err)
	}
}

func TestOAuth(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, srv *bitrixtest.Server, tokens bitrix.Tokens)
	}{
		{
			name: "no access token yet: the client refreshes before the first call",
			run: func(t *testing.T, srv *bitrixtest.Server, tokens bitrix.Tokens) {
				store := &recordingStore{}
				c := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: tokens.RefreshToken}, store)
				_, err := c.Scope(testContext(t))
				mustNoErr(t, err)
				if srv.RefreshCount(oauthClient) != 1 || len(store.all()) != 1 {
					t.Fatalf("refreshes %d, saves %d", srv.RefreshCount(oauthClient), len(store.all()))
				}
			},
		},
		{
			name: "a rotated-away refresh token answers invalid_grant: terminal auth error",
			run: func(t *testing.T, srv *bitrixtest.Server, tokens bitrix.Tokens) {
				ctx := testContext(t)
				first := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: tokens.RefreshToken}, nil)
				_, err := first.Scope(ctx)
				mustNoErr(t, err)
				stale := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: tokens.RefreshToken}, nil)
				_, err = stale.Scope(ctx)
				wantCode(t, err, "invalid_grant")
				if !errors.Is(err, bitrix.ErrInvalidGrant) || !bitrix.IsAuth(err) || !bitrix.IsTerminal(err) {
					t.Fatalf("classification of %v", err)
				}
			},
		},
		{
			name: "expired_token is refreshed once and the call retried once; a second expiry is returned",
			run: func(t *testing.T, srv *bitrixtest.Server, tokens bitrix.Tokens) {
				c := oauthClientFor(t, srv, tokens, nil)
				srv.InjectFault("scope", bitrixtest.Fault{Code: "expired_token", Status: 401, Times: 2})
				_, err := c.Scope(testContext(t))
				wantCode(t, err, "expired_token")
				if !bitrix.IsAuth(err) || srv.RefreshCount(oauthClient) != 1 || srv.CallCount("scope") != 2 {
					t.Fatalf("err %v, refreshes %d, calls %d", err, srv.RefreshCount(oauthClient), srv.CallCount("scope"))
				}
			},
		},
		{
			name: "a failing store does not fail the call; the save is retried on the next call",
			run: func(t *testing.T, srv *bitrixtest.Server, tokens bitrix.Tokens) {
				store := &recordingStore{fail: errors.New("conflict")}
				c := oauthClientFor(t, srv, bitrix.Tokens{RefreshToken: tokens.RefreshToken}, store)
				ctx := testContext(t)
				_, err := c.Scope(ctx)
				mustNoErr(t, err)
				store.mu.Lock()
				store.fail = nil
				store.mu.Unlock()
				_, err = c.Scope(ctx)
				mustNoErr(t, err)
				saved := store.all()
				if len(saved) != 2 || saved[1] != c.Tokens() || srv.RefreshCount(oauthClient) != 1 {
					t.Fatalf("saves %+v, refreshes %d", saved, srv.RefreshCount(oauthClient))
				}
			},
		},
		{
			name: "the OAuth application owns its bots under its client id",
			run: func(t *testing.T, srv *bitrixtest.Server, tokens bitrix.Tokens) {
				c := oauthClientFor(t, srv, tokens, nil)
				_, err := c.Register(testContext(t), botParams("support"))
				mustNoErr(t, err)
				if b := srv.Bots()[0]; b.App != oauthClient {
					t.Fatalf("bot owned by %q", b.App)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			tc.run(t, srv, srv.AddOAuthApp(oauthClient, oauthSecret))
		})
	}
}
