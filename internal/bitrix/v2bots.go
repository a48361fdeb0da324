package bitrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// imbot.v2 bot types (fields.type).
const (
	BotV2TypeBot        = "bot" // the default
	BotV2TypeSupervisor = "supervisor"
	BotV2TypePersonal   = "personal"
	BotV2TypeOpenline   = "openline"
	BotV2TypeNetwork    = "network"
)

// imbot.v2 event modes (fields.eventMode). A bot delivers events only in the format of the API
// that registered it: a v2 bot sends camelCase JSON ONIMBOTV2* events.
const (
	// EventModeFetch keeps the events for the team's own code to poll with imbot.v2.Event.get
	// (Bitrix's default). This client never calls Event.get: polling acknowledges events.
	EventModeFetch = "fetch"
	// EventModeWebhook POSTs the events as JSON to webhookUrl.
	EventModeWebhook = "webhook"
)

// BotV2Params are the fields of imbot.v2.Bot.register and Bot.update.
type BotV2Params struct {
	// Code identifies the bot, portal-wide. Register returns the existing bot for a code this
	// application already owns, without updating it; a code owned by another application
	// answers BOT_CODE_ALREADY_TAKEN. Register only: it cannot change.
	Code string
	// Type is one of the BotV2Type* values; empty: Bitrix's default (bot). Register only.
	Type string
	// EventMode is EventModeFetch or EventModeWebhook; empty: not sent (register: fetch).
	EventMode string
	// WebhookURL receives the events in webhook mode (required there).
	WebhookURL string

	Properties BotV2Properties

	// Flags: nil is not sent (register: Bitrix's default; update: unchanged).
	Hidden           *bool // isHidden, default false
	ReactionsEnabled *bool // isReactionsEnabled, default true
	SupportOpenline  *bool // isSupportOpenline, default false
	// BackgroundID is the chat background (azure, mint, steel, slate, teal, cornflower, sky,
	// peach, frost; Bitrix turns an unknown one into null). nil is not sent; a pointer to ""
	// sends null, which resets it to the user's own background.
	BackgroundID *string
}

// BotV2Properties are the bot's profile (fields.properties). Empty fields are not sent.
type BotV2Properties struct {
	Name         string // required on register
	LastName     string
	WorkPosition string
	Color        string // a colour name (RED, GREEN...); Bitrix ignores an unknown one on update
	Gender       string // M or F
	Avatar       []byte // image bytes (sent base64), up to 5000x5000
}

// BotV2 is a bot as imbot.v2 reports it (result.bot plus its user record).
type BotV2 struct {
	ID               int
	Code             string
	Type             string
	EventMode        string // only in the owner's (full) form
	Hidden           bool
	SupportOpenline  bool
	ReactionsEnabled bool
	BackgroundID     string
	Language         string
	// Full is set when Bitrix answered the owner's extended form (moduleId, eventMode,
	// counters) rather than the brief form other applications get. Answers carry no appId
	// since 2026-05-01; Bot.list, which lists only the caller's bots, is the sure test.
	Full         bool
	CountCommand int
	// User is the bot's user record (result.users), where its name and profile live.
	User BotV2User
}

// BotV2User is the profile part of a bot (an entry of result.users).
type BotV2User struct {
	Name         string // first and last name together
	FirstName    string
	LastName     string
	WorkPosition string
	Color        string // hex, as Bitrix reports it (see ColorName)
	Gender       string
	Avatar       string // URL
}

// BotListV2Options select a page of imbot.v2.Bot.list.
type BotListV2Options struct {
	Type   string // filter.type; empty: every type
	Limit  int    // page size; 0: DefaultBotListV2Limit
	Offset int
}

// DefaultBotListV2Limit is the page size ListBotsV2 asks for (Bitrix's default).
const DefaultBotListV2Limit = 50

// maxBotListPages stops a portal that keeps answering hasNextPage from looping forever:
// 100 bots per application is the limit, so a few pages are all there can be.
const maxBotListPages = 100

// RegisterV2 calls imbot.v2.Bot.register. The same code from the same application returns the
// existing bot without updating it, so a retry after a lost answer is safe; use UpdateV2 to
// apply changes. A webhook client sends its client id as fields.botToken and refuses, before
// sending, one that is longer than MaxBotTokenLength (BOT_TOKEN_INVALID_LENGTH).
func (c *Client) RegisterV2(ctx context.Context, p BotV2Params) (BotV2, error) {
	const method = "imbot.v2.Bot.register"
	if err := c.checkToken(method, c.clientID); err != nil {
		return BotV2{}, fmt.Errorf("register bot %q: %w", p.Code, err)
	}
	fields := botV2Fields(p, true)
	if c.clientID != "" {
		fields["botToken"] = c.clientID
	}
	raw, err := c.call(ctx, method, params{"fields": fields}, idempotent)
	if err != nil {
		return BotV2{}, fmt.Errorf("register bot %q: %w", p.Code, err)
	}
	b, err := decodeBotV2Result(raw)
	if err != nil {
		return BotV2{}, fmt.Errorf("register bot %q: %w", p.Code, decodeError(method, err))
	}
	return b, nil
}

// UpdateV2 calls imbot.v2.Bot.update with p's fields (Code and Type cannot change and are not
// sent) and returns the bot as updated. Changing EventMode or WebhookURL rebuilds the bot's
// event subscriptions on Bitrix's side. Repeating the same update is harmless, so it is
// retried after a lost answer.
func (c *Client) UpdateV2(ctx context.Context, botID int, p BotV2Params) (BotV2, error) {
	const method = "imbot.v2.Bot.update"
	fields := botV2Fields(p, false)
	if len(fields) == 0 {
		return BotV2{}, fmt.Errorf("update bot %d: %w", botID, &Error{Code: ErrWrongRequest.Code, Method: method, Description: "nothing to update"})
	}
	raw, err := c.call(ctx, method, params{"botId": botID, "fields": fields}, idempotent)
	if err != nil {
		return BotV2{}, fmt.Errorf("update bot %d: %w", botID, err)
	}
	b, err := decodeBotV2Result(raw)
	if err != nil {
		return BotV2{}, fmt.Errorf("update bot %d: %w", botID, decodeError(method, err))
	}
	return b, nil
}

// RotateBotTokenV2 moves a bot to a new botToken: imbot.v2.Bot.update authenticated with from
// (top level) and to in fields.botToken. The old token stops working at once, so a repeat
// after a lost answer would fail with BOT_OWNERSHIP_ERROR: the call is never repeated, and a
// lost answer comes back Ambiguous; read the bot with the new token (a client built with it)
// to learn whether the rotation happened. A token another bot already uses answers
// BOT_TOKEN_ROTATION_FAILED. Both tokens are redacted from every error. Webhook clients only.
func (c *Client) RotateBotTokenV2(ctx context.Context, botID int, from, to string) error {
	const method = "imbot.v2.Bot.update"
	if c.oauth != nil {
		return fmt.Errorf("rotate the token of bot %d: an OAuth application has no bot token", botID)
	}
	c.secrets.addKnown(from, to)
	if strings.TrimSpace(from) == "" {
		return fmt.Errorf("rotate the token of bot %d: %w", botID, &Error{Code: ErrBotTokenNotSpecified.Code, Method: method, Description: "the previous bot token is empty"})
	}
	if err := c.checkToken(method, to); err != nil {
		return fmt.Errorf("rotate the token of bot %d: %w", botID, err)
	}
	ps := params{"botId": botID, "botToken": from, "fields": params{"botToken": to}}
	raw, err := c.call(ctx, method, ps, notIdempotent)
	if err != nil {
		return fmt.Errorf("rotate the token of bot %d: %w", botID, err)
	}
	if _, err := decodeBotV2Result(raw); err != nil {
		return fmt.Errorf("rotate the token of bot %d: %w", botID, decodeError(method, err))
	}
	return nil
}

// GetBotV2 calls imbot.v2.Bot.get by id. BOT_NOT_FOUND (IsGone) when there is no such bot.
func (c *Client) GetBotV2(ctx context.Context, botID int) (BotV2, error) {
	return c.getBotV2(ctx, params{"botId": botID}, fmt.Sprintf("bot %d", botID))
}

// GetBotByCodeV2 calls imbot.v2.Bot.get by code, a portal-wide lookup: the owner gets the full
// form (BotV2.Full), other applications a brief one. Use it to tell a code that is free
// (BOT_NOT_FOUND) from one that is ours or taken.
func (c *Client) GetBotByCodeV2(ctx context.Context, code string) (BotV2, error) {
	return c.getBotV2(ctx, params{"code": code}, fmt.Sprintf("bot %q", code))
}

func (c *Client) getBotV2(ctx context.Context, ps params, what string) (BotV2, error) {
	const method = "imbot.v2.Bot.get"
	raw, err := c.call(ctx, method, ps, idempotent)
	if err != nil {
		return BotV2{}, fmt.Errorf("get %s: %w", what, err)
	}
	b, err := decodeBotV2Result(raw)
	if err != nil {
		return BotV2{}, fmt.Errorf("get %s: %w", what, decodeError(method, err))
	}
	return b, nil
}

// ListBotsV2Page reads one page of imbot.v2.Bot.list: only the calling application's bots.
func (c *Client) ListBotsV2Page(ctx context.Context, o BotListV2Options) (bots []BotV2, hasNext bool, err error) {
	const method = "imbot.v2.Bot.list"
	ps := params{"limit": o.Limit, "offset": o.Offset}
	if o.Limit <= 0 {
		ps["limit"] = DefaultBotListV2Limit
	}
	if o.Type != "" {
		ps["filter"] = params{"type": o.Type}
	}
	raw, err := c.call(ctx, method, ps, idempotent)
	if err != nil {
		return nil, false, fmt.Errorf("list bots: %w", err)
	}
	page, err := decodeBotV2List(raw)
	if err != nil {
		return nil, false, fmt.Errorf("list bots: %w", decodeError(method, err))
	}
	return page.bots, page.hasNext, nil
}

// ListBotsV2 reads every page of imbot.v2.Bot.list (filtered by type when typ is set): all of
// the calling application's bots, in as many requests as there are pages.
func (c *Client) ListBotsV2(ctx context.Context, typ string) ([]BotV2, error) {
	var all []BotV2
	seen := map[int]bool{}
	offset := 0
	for range maxBotListPages {
		bots, next, err := c.ListBotsV2Page(ctx, BotListV2Options{Type: typ, Limit: DefaultBotListV2Limit, Offset: offset})
		if err != nil {
			return nil, err
		}
		for _, b := range bots {
			// Offset paging over a list that changes between pages can repeat an entry.
			if !seen[b.ID] {
				seen[b.ID] = true
				all = append(all, b)
			}
		}
		if !next || len(bots) == 0 {
			return all, nil
		}
		offset += len(bots)
	}
	return nil, fmt.Errorf("list bots: %w", &Error{Code: codeInvalidResponse, Method: "imbot.v2.Bot.list",
		Description: fmt.Sprintf("still more pages after %d", maxBotListPages)})
}

// UnregisterV2 calls imbot.v2.Bot.unregister; Bitrix also removes the bot's event
// subscriptions, commands and chat apps. A bot that is already gone answers BOT_NOT_FOUND
// (IsGone).
func (c *Client) UnregisterV2(ctx context.Context, botID int) error {
	const method = "imbot.v2.Bot.unregister"
	raw, err := c.call(ctx, method, params{"botId": botID}, idempotent)
	if err != nil {
		return fmt.Errorf("unregister bot %d: %w", botID, err)
	}
	if err := decodeV2True(raw); err != nil {
		return fmt.Errorf("unregister bot %d: %w", botID, decodeError(method, err))
	}
	return nil
}

// UnregisterV2As is UnregisterV2 authenticated with another bot token than the client's own
// (a bot still registered under a webhook identity the Portal has moved away from). The token
// is redacted from every error. Webhook clients only.
func (c *Client) UnregisterV2As(ctx context.Context, botID int, token string) error {
	const method = "imbot.v2.Bot.unregister"
	if c.oauth != nil {
		return fmt.Errorf("unregister bot %d: an OAuth application has no bot token", botID)
	}
	c.secrets.addKnown(token)
	if strings.TrimSpace(token) == "" {
		return fmt.Errorf("unregister bot %d: %w", botID, &Error{Code: ErrBotTokenNotSpecified.Code, Method: method, Description: "the bot token is empty"})
	}
	raw, err := c.call(ctx, method, params{"botId": botID, "botToken": token}, idempotent)
	if err != nil {
		return fmt.Errorf("unregister bot %d: %w", botID, err)
	}
	if err := decodeV2True(raw); err != nil {
		return fmt.Errorf("unregister bot %d: %w", botID, decodeError(method, err))
	}
	return nil
}

// botV2Fields builds `fields` (camelCase keys, JSON booleans, as imbot.v2 documents them).
func botV2Fields(p BotV2Params, register bool) params {
	f := params{}
	if register {
		f.setString("code", p.Code)
		f.setString("type", p.Type)
	}
	f.setString("eventMode", p.EventMode)
	f.setString("webhookUrl", p.WebhookURL)
	props := params{}
	props.setString("name", p.Properties.Name)
	props.setString("lastName", p.Properties.LastName)
	props.setString("workPosition", p.Properties.WorkPosition)
	props.setString("color", p.Properties.Color)
	props.setString("gender", p.Properties.Gender)
	props.setBytes("avatar", p.Properties.Avatar)
	if register || len(props) > 0 {
		f["properties"] = props
	}
	for k, v := range map[string]*bool{"isHidden": p.Hidden, "isReactionsEnabled": p.ReactionsEnabled, "isSupportOpenline": p.SupportOpenline} {
		if v != nil {
			f[k] = *v
		}
	}
	if p.BackgroundID != nil {
		if *p.BackgroundID == "" {
			f["backgroundId"] = nil
		} else {
			f["backgroundId"] = *p.BackgroundID
		}
	}
	return f
}

type rawBotV2 struct {
	ID                 flexInt          `json:"id"`
	Code               string           `json:"code"`
	Type               string           `json:"type"`
	EventMode          *string          `json:"eventMode"`
	ModuleID           *string          `json:"moduleId"`
	IsHidden           flexBool         `json:"isHidden"`
	IsSupportOpenline  flexBool         `json:"isSupportOpenline"`
	IsReactionsEnabled flexBool         `json:"isReactionsEnabled"`
	BackgroundID       *string          `json:"backgroundId"`
	Language           string           `json:"language"`
	CountCommand       flexInt          `json:"countCommand"`
	Extra              *json.RawMessage `json:"countMessage"`
}

type rawUserV2 struct {
	ID           flexInt `json:"id"`
	Name         string  `json:"name"`
	FirstName    string  `json:"firstName"`
	LastName     string  `json:"lastName"`
	WorkPosition string  `json:"workPosition"`
	Color        string  `json:"color"`
	Gender       string  `json:"gender"`
	Avatar       string  `json:"avatar"`
}

func (r rawBotV2) bot(users map[int]rawUserV2) BotV2 {
	b := BotV2{
		ID: int(r.ID), Code: r.Code, Type: r.Type, Hidden: bool(r.IsHidden),
		SupportOpenline: bool(r.IsSupportOpenline), ReactionsEnabled: bool(r.IsReactionsEnabled),
		Language: r.Language, CountCommand: int(r.CountCommand),
		Full: r.EventMode != nil || r.ModuleID != nil || r.Extra != nil,
	}
	if r.EventMode != nil {
		b.EventMode = *r.EventMode
	}
	if r.BackgroundID != nil {
		b.BackgroundID = *r.BackgroundID
	}
	if u, ok := users[b.ID]; ok {
		b.User = BotV2User{Name: u.Name, FirstName: u.FirstName, LastName: u.LastName,
			WorkPosition: u.WorkPosition, Color: u.Color, Gender: u.Gender, Avatar: u.Avatar}
	}
	return b
}

func usersByID(list []rawUserV2) map[int]rawUserV2 {
	m := make(map[int]rawUserV2, len(list))
	for _, u := range list {
		m[int(u.ID)] = u
	}
	return m
}

// decodeBotV2Result reads {"bot": {...}, "users": [...]}.
func decodeBotV2Result(raw json.RawMessage) (BotV2, error) {
	var v struct {
		Bot   *rawBotV2   `json:"bot"`
		Users []rawUserV2 `json:"users"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return BotV2{}, err
	}
	if v.Bot == nil || v.Bot.ID <= 0 {
		return BotV2{}, errors.New("no bot in the result")
	}
	return v.Bot.bot(usersByID(v.Users)), nil
}

type botV2Page struct {
	bots    []BotV2
	hasNext bool
}

// decodeBotV2List reads {"bots": [...], "users": [...], "hasNextPage": bool}.
func decodeBotV2List(raw json.RawMessage) (botV2Page, error) {
	var v struct {
		Bots        json.RawMessage `json:"bots"`
		Users       json.RawMessage `json:"users"`
		HasNextPage flexBool        `json:"hasNextPage"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return botV2Page{}, err
	}
	var bots []rawBotV2
	if !isNull(v.Bots) {
		if err := json.Unmarshal(v.Bots, &bots); err != nil {
			return botV2Page{}, err
		}
	}
	var users []rawUserV2
	if !isNull(v.Users) {
		if err := json.Unmarshal(v.Users, &users); err != nil {
			return botV2Page{}, err
		}
	}
	byID := usersByID(users)
	out := botV2Page{hasNext: bool(v.HasNextPage), bots: make([]BotV2, 0, len(bots))}
	for _, b := range bots {
		out.bots = append(out.bots, b.bot(byID))
	}
	return out, nil
}
