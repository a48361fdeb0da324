package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"time"

	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// maxStateCalls bounds the call log shown by /_sim/state.
const maxStateCalls = 100

// portal is the Bitrix24 simulator with what b24sim adds: the credentials it was set up with
// and a token-free state view.
type portal struct {
	*bitrixtest.Portal
	creds bitrixCredentials
	v2    bool
}

func newBitrix(cfg config, base string) (bitrixSim, error) {
	opts := []bitrixtest.Option{bitrixtest.WithBaseURL(base), bitrixtest.WithMaxBotsPerApp(cfg.maxBots),
		bitrixtest.WithMaxBotsV2PerApp(cfg.maxBotsV2), bitrixtest.WithPortalLanguage(cfg.portalLanguage),
		bitrixtest.WithRateLimitStatus(cfg.rateLimitStatus)}
	if cfg.noV2 {
		opts = append(opts, bitrixtest.WithoutV2())
	}
	if cfg.noV2Batch {
		opts = append(opts, bitrixtest.WithoutV2Batch())
	}
	if cfg.sharedTokenRotation {
		opts = append(opts, bitrixtest.WithSharedTokenRotation())
	}
	if cfg.ratePerSecond > 0 {
		opts = append(opts, bitrixtest.WithRateLimit(cfg.rateBurst, cfg.ratePerSecond))
	} else {
		opts = append(opts, bitrixtest.WithoutRateLimit())
	}
	p := bitrixtest.NewHandler(opts...)
	creds := bitrixCredentials{PortalURL: p.BaseURL(), TokenURL: p.TokenURL()}
	for _, w := range cfg.webhooks {
		creds.Webhooks = append(creds.Webhooks, webhookCredentials{UserID: w.userID, Code: w.code, URL: p.AddWebhook(w.userID, w.code)})
	}
	for _, a := range cfg.oauthApps {
		t := p.AddOAuthApp(a.clientID, a.secret)
		creds.OAuthApps = append(creds.OAuthApps, oauthCredentials{
			ClientID:     a.clientID,
			ClientSecret: a.secret,
			AccessToken:  t.AccessToken,
			RefreshToken: t.RefreshToken,
			ExpiresAt:    t.ExpiresAt,
		})
	}
	return &portal{Portal: p, creds: creds, v2: !cfg.noV2}, nil
}

func (p *portal) credentials() bitrixCredentials { return p.creds }

// The views below copy what a user's CI wants to assert on and leave out tokens, chat app
// hashes and binary images.

type bitrixState struct {
	Available bool          `json:"available"`
	V2        bool          `json:"v2"` // the portal serves imbot.v2 (not started with --no-v2)
	Bots      []botView     `json:"bots"`
	Apps      []appView     `json:"apps"`
	Chats     []chatView    `json:"chats"`
	Commands  []commandView `json:"commands"`
	// EventGetCalls counts imbot.v2.Event.get calls; the operator must never make one.
	EventGetCalls int        `json:"event_get_calls"`
	Calls         []callView `json:"calls"`
	CallCount     int        `json:"call_count"`
	// Refused counts the bucket's QUERY_LIMIT_EXCEEDED answers (503, or 429 with
	// --rate-limit-status 429).
	Refused int `json:"refused_503"`
}

type botView struct {
	ID       int    `json:"id"`
	Code     string `json:"code"`
	App      string `json:"app"`
	API      string `json:"api"` // v1 or v2: the API that registered the bot, and so its event format
	Type     string `json:"type"`
	Openline bool   `json:"openline"`
	Name     string `json:"name"`
	LastName string `json:"last_name,omitempty"`
	Color    string `json:"color,omitempty"`
	// EventMode (fetch or webhook) and WebhookURL (without its query) of a v2 bot.
	EventMode  string `json:"event_mode,omitempty"`
	WebhookURL string `json:"webhook_url,omitempty"`
}

type commandView struct {
	ID              int               `json:"id"`
	BotID           int               `json:"bot_id"`
	Command         string            `json:"command"`
	API             string            `json:"api"`
	App             string            `json:"app"`
	Common          bool              `json:"common"`
	Hidden          bool              `json:"hidden"`
	ExtranetSupport bool              `json:"extranet_support"`
	Titles          map[string]string `json:"titles"`
	Params          map[string]string `json:"params,omitempty"`
	// Handler is a v1 command's EVENT_COMMAND_ADD, without its query.
	Handler string `json:"handler,omitempty"`
}

// appLabel names an application without its secret: a webhook application is "custom" +
// CLIENT_ID, and that client id is also the imbot.v2 botToken, which controls the bots. It is
// shown as "custom#" and the first 8 hex digits of its SHA-256; OAuth client ids are shown as
// they are.
func appLabel(app string) string {
	id, ok := strings.CutPrefix(app, "custom")
	if !ok || id == "" {
		return app
	}
	sum := sha256.Sum256([]byte(id))
	return "custom#" + hex.EncodeToString(sum[:4])
}

// withoutQuery drops a URL's query and user info, where credentials may hide.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

type appView struct {
	ID       int    `json:"id"`
	BotID    int    `json:"bot_id"`
	Code     string `json:"code"`
	App      string `json:"app"`
	JSMethod string `json:"js_method,omitempty"`
	JSParam  string `json:"js_param,omitempty"`
	Iframe   string `json:"iframe,omitempty"`
	Context  string `json:"context,omitempty"`
	Hidden   bool   `json:"hidden"`
}

type chatView struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	EntityType  string `json:"entity_type,omitempty"`
	EntityID    string `json:"entity_id,omitempty"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Color       string `json:"color,omitempty"`
	Owner       int    `json:"owner"`
	Members     []int  `json:"members"`
	BotID       int    `json:"bot_id"`
	App         string `json:"app"`
}

type callView struct {
	Method    string    `json:"method"`
	App       string    `json:"app,omitempty"`
	Status    int       `json:"status"`
	ErrorCode string    `json:"error_code,omitempty"`
	BatchKey  string    `json:"batch_key,omitempty"`
	Fault     bool      `json:"fault,omitempty"`
	Time      time.Time `json:"time"`
}

func (p *portal) state() any {
	st := bitrixState{Available: true, V2: p.v2, Bots: []botView{}, Apps: []appView{}, Chats: []chatView{},
		Commands: []commandView{}, Calls: []callView{}}
	for _, b := range p.Bots() {
		st.Bots = append(st.Bots, botView{ID: b.ID, Code: b.Code, App: appLabel(b.App), Type: b.Type, Openline: b.Openline,
			Name: b.Properties.Name, LastName: b.Properties.LastName, Color: b.Properties.Color,
			API: b.API, EventMode: b.EventMode, WebhookURL: withoutQuery(b.WebhookURL)})
	}
	for _, c := range p.Commands() {
		st.Commands = append(st.Commands, commandView{ID: c.ID, BotID: c.BotID, Command: c.Command, API: c.API,
			App: appLabel(c.App), Common: c.Common, Hidden: c.Hidden, ExtranetSupport: c.ExtranetSupport,
			Titles: c.Titles, Params: c.Params, Handler: withoutQuery(c.Handler)})
	}
	st.EventGetCalls = p.EventGetCount()
	for _, a := range p.Apps() {
		st.Apps = append(st.Apps, appView{ID: a.ID, BotID: a.BotID, Code: a.Code, App: appLabel(a.App), JSMethod: a.JSMethod,
			JSParam: a.JSParam, Iframe: a.Iframe, Context: a.Context, Hidden: a.Hidden})
	}
	for _, c := range p.Chats() {
		st.Chats = append(st.Chats, chatView{ID: c.ID, Type: c.Type, EntityType: c.EntityType, EntityID: c.EntityID,
			Title: c.Title, Description: c.Description, Color: c.Color, Owner: c.Owner, Members: c.Members,
			BotID: c.BotID, App: appLabel(c.App)})
	}
	calls := p.Calls()
	st.CallCount = len(calls)
	// Call parameters are left out: they may hold handler URLs with credentials.
	for _, c := range calls[max(0, len(calls)-maxStateCalls):] {
		st.Calls = append(st.Calls, callView{Method: c.Method, App: appLabel(c.App), Status: c.Status, ErrorCode: c.ErrorCode,
			BatchKey: c.BatchKey, Fault: c.Fault, Time: c.Time})
	}
	st.Refused = p.Count503()
	return st
}
