package main

import (
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
}

func newBitrix(cfg config, base string) (bitrixSim, error) {
	opts := []bitrixtest.Option{bitrixtest.WithBaseURL(base), bitrixtest.WithMaxBotsPerApp(cfg.maxBots)}
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
	return &portal{Portal: p, creds: creds}, nil
}

func (p *portal) credentials() bitrixCredentials { return p.creds }

// The views below copy what a user's CI wants to assert on and leave out tokens, chat app
// hashes and binary images.

type bitrixState struct {
	Available bool       `json:"available"`
	Bots      []botView  `json:"bots"`
	Apps      []appView  `json:"apps"`
	Chats     []chatView `json:"chats"`
	Calls     []callView `json:"calls"`
	CallCount int        `json:"call_count"`
	Refused   int        `json:"refused_503"`
}

type botView struct {
	ID       int    `json:"id"`
	Code     string `json:"code"`
	App      string `json:"app"`
	Type     string `json:"type"`
	Openline bool   `json:"openline"`
	Name     string `json:"name"`
	LastName string `json:"last_name,omitempty"`
	Color    string `json:"color,omitempty"`
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
	st := bitrixState{Available: true, Bots: []botView{}, Apps: []appView{}, Chats: []chatView{}, Calls: []callView{}}
	for _, b := range p.Bots() {
		st.Bots = append(st.Bots, botView{ID: b.ID, Code: b.Code, App: b.App, Type: b.Type, Openline: b.Openline,
			Name: b.Properties.Name, LastName: b.Properties.LastName, Color: b.Properties.Color})
	}
	for _, a := range p.Apps() {
		st.Apps = append(st.Apps, appView{ID: a.ID, BotID: a.BotID, Code: a.Code, App: a.App, JSMethod: a.JSMethod,
			JSParam: a.JSParam, Iframe: a.Iframe, Context: a.Context, Hidden: a.Hidden})
	}
	for _, c := range p.Chats() {
		st.Chats = append(st.Chats, chatView{ID: c.ID, Type: c.Type, EntityType: c.EntityType, EntityID: c.EntityID,
			Title: c.Title, Description: c.Description, Color: c.Color, Owner: c.Owner, Members: c.Members,
			BotID: c.BotID, App: c.App})
	}
	calls := p.Calls()
	st.CallCount = len(calls)
	// Call parameters are left out: they may hold handler URLs with credentials.
	for _, c := range calls[max(0, len(calls)-maxStateCalls):] {
		st.Calls = append(st.Calls, callView{Method: c.Method, App: c.App, Status: c.Status, ErrorCode: c.ErrorCode,
			BatchKey: c.BatchKey, Fault: c.Fault, Time: c.Time})
	}
	st.Refused = p.Count503()
	return st
}
