package bitrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/b24ops/b24-operator/internal/outbound"
)

// Tokens are an OAuth application's credentials on one portal.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	// ExpiresAt is informational (status, Secret): the client refreshes only when Bitrix
	// answers expired_token, never on a timer (refreshing on a timer can get an application
	// blocked).
	ExpiresAt time.Time
}

// TokenStore receives the tokens after every refresh. The refresh token rotates: the old one
// is dead as soon as the new one is issued, so the store must persist them (the controller
// writes them back to the Portal's Secret).
type TokenStore interface {
	SaveTokens(ctx context.Context, t Tokens) error
}

// TokenStoreFunc adapts a function to TokenStore.
type TokenStoreFunc func(ctx context.Context, t Tokens) error

// SaveTokens calls f.
func (f TokenStoreFunc) SaveTokens(ctx context.Context, t Tokens) error { return f(ctx, t) }

type oauthState struct {
	clientID     string
	clientSecret string
	tokenURL     string
	store        TokenStore

	group singleflight.Group

	mu      sync.Mutex
	tokens  Tokens
	unsaved bool // the store failed to take the current tokens; try again on the next call

	saveMu sync.Mutex
}

func newOAuthState(cfg *oauthConfig) *oauthState {
	return &oauthState{
		clientID:     cfg.clientID,
		clientSecret: cfg.clientSecret,
		tokenURL:     cfg.tokenURL,
		store:        cfg.store,
		tokens:       cfg.tokens,
	}
}

// Tokens returns the OAuth tokens the client currently holds (zero for a webhook client).
func (c *Client) Tokens() Tokens {
	if c.oauth == nil {
		return Tokens{}
	}
	c.oauth.mu.Lock()
	defer c.oauth.mu.Unlock()
	return c.oauth.tokens
}

// accessToken returns the token for the next request: "" for a webhook client; for OAuth the
// current access token, refreshed first when none is held yet.
func (c *Client) accessToken(ctx context.Context, method string) (string, error) {
	o := c.oauth
	if o == nil {
		return "", nil
	}
	o.mu.Lock()
	tok, unsaved := o.tokens.AccessToken, o.unsaved
	o.mu.Unlock()
	if unsaved {
		c.saveTokens(ctx)
	}
	if tok != "" {
		return tok, nil
	}
	return c.refresh(ctx, method, "")
}

// refresh replaces the access token that just failed (failed; "" when none was held). Exactly
// one refresh runs at a time per client, and a caller whose failed token was already replaced
// by another caller's refresh just takes the new token: the refresh token rotates, so a second
// refresh in parallel would invalidate the first one's result.
func (c *Client) refresh(ctx context.Context, method, failed string) (string, error) {
	o := c.oauth
	if tok := o.current(); tok != "" && tok != failed {
		return tok, nil
	}
	ch := o.group.DoChan("refresh", func() (any, error) {
		if tok := o.current(); tok != "" && tok != failed {
			return tok, nil
		}
		// Not bound to the first caller's context: the others wait on this refresh too, and
		// a refresh cut off after Bitrix rotated the token would lose the new refresh token.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.requestTimeout)
		defer cancel()
		o.mu.Lock()
		refreshToken := o.tokens.RefreshToken
		o.mu.Unlock()
		t, err := c.fetchTokens(rctx, method, refreshToken)
		if err != nil {
			tokenRefreshesTotal.WithLabelValues(c.portal, outcomeLabel(err)).Inc()
			return nil, err
		}
		c.secrets.addTokens(t.AccessToken, t.RefreshToken)
		o.mu.Lock()
		o.tokens = t
		o.unsaved = o.store != nil
		o.mu.Unlock()
		tokenRefreshesTotal.WithLabelValues(c.portal, "success").Inc()
		c.saveTokens(rctx)
		return t.AccessToken, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctxError(method, ctx.Err())
	}
}

func (o *oauthState) current() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tokens.AccessToken
}

// saveTokens hands the current tokens to the store if it has not taken them yet. A failure is
// not the call's failure (the tokens work); it is retried before the next request, and
// counted as outcome "save_error".
func (c *Client) saveTokens(ctx context.Context) {
	o := c.oauth
	if o.store == nil {
		return
	}
	o.saveMu.Lock()
	defer o.saveMu.Unlock()
	o.mu.Lock()
	t, unsaved := o.tokens, o.unsaved
	o.mu.Unlock()
	if !unsaved {
		return
	}
	if err := o.store.SaveTokens(ctx, t); err != nil {
		tokenRefreshesTotal.WithLabelValues(c.portal, "save_error").Inc()
		return
	}
	o.mu.Lock()
	if o.tokens == t {
		o.unsaved = false
	}
	o.mu.Unlock()
}

type tokenResponse struct {
	AccessToken      string          `json:"access_token"`
	RefreshToken     string          `json:"refresh_token"`
	Expires          json.RawMessage `json:"expires"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            json.RawMessage `json:"error"`
	ErrorDescription json.RawMessage `json:"error_description"`
}

// fetchTokens calls the OAuth server:
// GET tokenURL?grant_type=refresh_token&client_id=..&client_secret=..&refresh_token=..
// The query holds secrets, so no error of this function may carry the URL.
func (c *Client) fetchTokens(ctx context.Context, method, refreshToken string) (Tokens, error) {
	o := c.oauth
	if refreshToken == "" {
		return Tokens{}, &Error{Code: ErrInvalidGrant.Code, Method: method, Description: "refreshing the access token: no refresh token held"}
	}
	u, err := url.Parse(o.tokenURL)
	if err != nil {
		return Tokens{}, &Error{Code: codeNetwork, Method: method, Description: "refreshing the access token: bad token URL"}
	}
	q := u.Query()
	q.Set("grant_type", "refresh_token")
	q.Set("client_id", o.clientID)
	q.Set("client_secret", o.clientSecret)
	q.Set("refresh_token", refreshToken)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Tokens{}, &Error{Code: codeNetwork, Method: method, Description: "refreshing the access token: cannot build the request"}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "b24-operator")
	resp, err := c.hc.Do(req)
	if err != nil {
		e := c.networkError(method, err)
		e.Ambiguous = false // the API call itself did not run
		e.Description = "refreshing the access token: " + e.Description
		return Tokens{}, e
	}
	defer resp.Body.Close()
	fail := func(e *Error) (Tokens, error) {
		e.Ambiguous = false // the API call itself did not run
		e.Description = "refreshing the access token: " + e.Description
		return Tokens{}, e
	}
	if resp.ContentLength > c.maxResponseBytes {
		return fail(&Error{Code: codeResponseTooLarge, Method: method, HTTPStatus: resp.StatusCode,
			Description: (&outbound.TooLargeError{Limit: c.maxResponseBytes}).Error()})
	}
	if loc, err := resp.Location(); err == nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Never followed: the query carries the client secret and the refresh token.
		return fail(&Error{Code: codeTooManyRedirect, Method: method, HTTPStatus: resp.StatusCode,
			Description: fmt.Sprintf("the token endpoint moved to %s; update the token URL (redirects are not followed)", safeHost(loc.Host))})
	}
	release, err := c.budget.Acquire(ctx, outbound.Share(resp.ContentLength, c.maxResponseBytes))
	if err != nil {
		return Tokens{}, ctxError(method, err)
	}
	defer release()
	var tr tokenResponse
	what, jsonErr, readErr := decodeJSON(outbound.LimitReader(resp.Body, c.maxResponseBytes), &tr)
	var tl *outbound.TooLargeError
	switch {
	case errors.As(readErr, &tl):
		return fail(&Error{Code: codeResponseTooLarge, Method: method, HTTPStatus: resp.StatusCode, Description: tl.Error()})
	case readErr != nil:
		return fail(c.networkError(method, readErr))
	}
	if jsonErr == nil {
		if code := jsonString(tr.Error); code != "" {
			return Tokens{}, &Error{
				Code:        remoteCode(c.secrets.redact(code)),
				Method:      method,
				HTTPStatus:  resp.StatusCode,
				Description: "refreshing the access token: " + c.remoteText(jsonString(tr.ErrorDescription)),
			}
		}
	}
	if resp.StatusCode != http.StatusOK || jsonErr != nil || tr.AccessToken == "" || tr.RefreshToken == "" {
		code := codeInvalidResponse
		if resp.StatusCode != http.StatusOK {
			code = fmt.Sprintf("HTTP_%d", resp.StatusCode)
		}
		return Tokens{}, &Error{Code: code, Method: method, HTTPStatus: resp.StatusCode,
			Description: "refreshing the access token: " + what}
	}
	t := Tokens{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken}
	if exp, ok := jsonNumber(tr.Expires); ok && exp > 0 {
		t.ExpiresAt = time.Unix(int64(exp), 0)
	} else if in, ok := jsonNumber(tr.ExpiresIn); ok && in > 0 {
		t.ExpiresAt = time.Now().Add(time.Duration(in) * time.Second)
	} else {
		t.ExpiresAt = time.Now().Add(time.Hour)
	}
	return t, nil
}
