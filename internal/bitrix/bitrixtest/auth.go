package bitrixtest

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

type oauthApp struct {
	clientID     string
	clientSecret string
	refreshToken string
	refreshUntil time.Time
	refreshes    int
	installed    bool
}

type accessToken struct {
	clientID string
	expires  time.Time
}

// caller is an authenticated request's identity.
type caller struct {
	webhookUser int    // webhook: the user the webhook belongs to
	clientID    string // OAuth: the application
	outerClient string // webhook inside a batch: CLIENT_ID of the batch request itself
}

// imbotApp returns the application that owns the bots an imbot.* call touches: the OAuth
// application, or "custom"+CLIENT_ID for a webhook, which must then send CLIENT_ID.
func (c *caller) imbotApp(ps params) (string, *apiError) {
	if c.clientID != "" {
		return c.clientID, nil
	}
	id := ps.str("CLIENT_ID")
	if id == "" {
		id = c.outerClient
	}
	if id == "" {
		return "", errf(http.StatusForbidden, "ACCESS_DENIED", "Access denied! Client ID not specified")
	}
	return "custom" + id, nil
}

// appFor names the application of a call for the log.
func (c *caller) appFor(method string, ps params) string {
	if c.clientID != "" {
		return c.clientID
	}
	if isV2Method(method) {
		if t := v2Token(method, ps); t != "" {
			return "custom" + t
		}
		return ""
	}
	if id := ps.str("CLIENT_ID"); id != "" {
		return "custom" + id
	}
	if c.outerClient != "" {
		return "custom" + c.outerClient
	}
	return ""
}

func (p *Portal) authenticate(rt route, ps params, now time.Time) (*caller, *apiError) {
	if rt.webhookCode != "" {
		user, ok := p.webhooks[rt.webhookUser+"/"+rt.webhookCode]
		if !ok {
			return nil, errf(http.StatusForbidden, "INVALID_CREDENTIALS", "Invalid request credentials")
		}
		return &caller{webhookUser: user}, nil
	}
	token := ps.str("AUTH")
	if token == "" {
		return nil, errf(http.StatusUnauthorized, "NO_AUTH_FOUND", "Wrong authorization data")
	}
	at, ok := p.accessTokens[token]
	if !ok {
		return nil, errf(http.StatusUnauthorized, "invalid_token", "Unable to get application by token")
	}
	if !now.Before(at.expires) {
		return nil, errf(http.StatusUnauthorized, "expired_token", "The access token provided has expired.")
	}
	return &caller{clientID: at.clientID}, nil
}

// AddOAuthApp installs an OAuth application and returns its first tokens.
func (p *Portal) AddOAuthApp(clientID, clientSecret string) Tokens {
	p.mu.Lock()
	defer p.mu.Unlock()
	app := &oauthApp{clientID: clientID, clientSecret: clientSecret, installed: true}
	p.oauthApps[clientID] = app
	return p.issueTokens(app, time.Now())
}

func (p *Portal) issueTokens(app *oauthApp, now time.Time) Tokens {
	access := randomToken()
	app.refreshToken = randomToken()
	app.refreshUntil = now.Add(p.cfg.refreshTTL)
	expires := now.Add(p.cfg.tokenTTL)
	p.accessTokens[access] = &accessToken{clientID: app.clientID, expires: expires}
	return Tokens{AccessToken: access, RefreshToken: app.refreshToken, ExpiresAt: expires.Truncate(time.Second)}
}

// ExpireAccessTokens makes every access token issued so far answer expired_token.
func (p *Portal) ExpireAccessTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, t := range p.accessTokens {
		t.expires = past
	}
}

// RefreshCount returns how many refreshes of clientID's tokens succeeded.
func (p *Portal) RefreshCount(clientID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if app, ok := p.oauthApps[clientID]; ok {
		return app.refreshes
	}
	return 0
}

// SetInstalled sets what app.info reports as INSTALLED for clientID (true by default).
func (p *Portal) SetInstalled(clientID string, installed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if app, ok := p.oauthApps[clientID]; ok {
		app.installed = installed
	}
}

// serveToken is the OAuth server: GET /oauth/token/?grant_type=refresh_token&client_id=..
// &client_secret=..&refresh_token=.. It rotates the refresh token: the old one then answers
// invalid_grant.
func (p *Portal) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			q = r.Form
		}
	}
	rep := p.refreshTokens(q)
	p.write(w, r, rep)
}

func (p *Portal) refreshTokens(q url.Values) reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	fail := func(code, desc string) reply {
		return jsonReply(http.StatusBadRequest, map[string]any{"error": code, "error_description": desc})
	}
	if q.Get("grant_type") != "refresh_token" {
		return fail("invalid_request", "Only the refresh_token grant is simulated")
	}
	app, ok := p.oauthApps[q.Get("client_id")]
	if !ok || app.clientSecret != q.Get("client_secret") {
		return fail("invalid_client", "Invalid client")
	}
	now := time.Now()
	if rt := q.Get("refresh_token"); rt == "" || rt != app.refreshToken || !now.Before(app.refreshUntil) {
		return fail("invalid_grant", "Invalid refresh token")
	}
	t := p.issueTokens(app, now)
	app.refreshes++
	base := p.cfg.baseURL
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	return jsonReply(http.StatusOK, map[string]any{
		"access_token":    t.AccessToken,
		"expires":         t.ExpiresAt.Unix(),
		"expires_in":      int(p.cfg.tokenTTL.Seconds()),
		"scope":           "app",
		"domain":          host,
		"server_endpoint": base + "/rest/",
		"status":          "L",
		"client_endpoint": base + "/rest/",
		"member_id":       p.cfg.memberID,
		"user_id":         1,
		"refresh_token":   t.RefreshToken,
	})
}

// appInfo answers app.info.
func (p *Portal) appInfo(c *caller) map[string]any {
	info := map[string]any{"ID": 1, "CODE": "", "VERSION": 1, "STATUS": "L", "INSTALLED": true,
		"PAYMENT_EXPIRED": "N", "DAYS": nil, "LICENSE": "en_project"}
	if app, ok := p.oauthApps[c.clientID]; ok {
		info["CODE"] = app.clientID
		info["INSTALLED"] = app.installed
	}
	return info
}
