package bitrixtest

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The imbot.v2 bot API (shared/BITRIX24-V2.md): camelCase parameters with the bot's fields in
// `fields`, the caller's application named by botToken ("custom"+botToken, the same
// application as v1's CLIENT_ID), code uniqueness portal-wide, the limit checked after the code
// lookup, 40-character tokens, event mode and webhook URL per bot. A bot remembers which API
// registered it (Bot.API): that is the format its events would have.

// APIs that can register a bot (Bot.API, Command.API).
const (
	APIV1 = "v1"
	APIV2 = "v2"
)

// rest revision Revision.get answers.
const simRESTRevision = 36

// maxV2Token is the longest botToken Bot.register and token rotation accept.
const maxV2Token = 40

type v2Config struct {
	disabled       bool // a portal without imbot.v2: every imbot.v2.* is ERROR_METHOD_NOT_FOUND
	noBatch        bool // batch refuses imbot.v2 commands
	maxBots        int  // BOT_LIMIT_EXCEEDED above it
	language       string
	limitStatus    int  // the status of the request-rate refusal (503, or 429)
	sharedRotation bool // several bots may rotate onto one token
}

func defaultV2Config() v2Config {
	return v2Config{maxBots: 100, language: "en", limitStatus: http.StatusServiceUnavailable}
}

// WithoutV2 simulates a portal without imbot.v2 (an older self-hosted installation): every
// imbot.v2.* method, Revision.get included, answers ERROR_METHOD_NOT_FOUND.
func WithoutV2() Option { return func(c *config) { c.v2.disabled = true } }

// WithoutV2Batch makes batch refuse imbot.v2 commands with ERROR_BATCH_METHOD_NOT_ALLOWED
// (whether Bitrix runs them inside batch is not documented; by default the simulator does).
func WithoutV2Batch() Option { return func(c *config) { c.v2.noBatch = true } }

// WithMaxBotsV2PerApp sets the imbot.v2 bot limit of each application (default 100). The v1
// limit is WithMaxBotsPerApp; both count all of the application's bots, whichever API
// registered them.
func WithMaxBotsV2PerApp(n int) Option { return func(c *config) { c.v2.maxBots = n } }

// WithPortalLanguage sets the portal's language (default en): the only language
// imbot.v2.Command.list reads back.
func WithPortalLanguage(lang string) Option { return func(c *config) { c.v2.language = lang } }

// WithRateLimitStatus sets the HTTP status of the bucket's refusal: 503 (the default, as the
// general REST limits page documents) or 429 (as the imbot.v2 pages do). The body is
// QUERY_LIMIT_EXCEEDED either way.
func WithRateLimitStatus(status int) Option { return func(c *config) { c.v2.limitStatus = status } }

// WithSharedTokenRotation lets several bots rotate onto the same new botToken. By default a
// token another bot already uses answers BOT_TOKEN_ROTATION_FAILED, as the docs say; whether
// that includes the caller's own bots is unconfirmed.
func WithSharedTokenRotation() Option { return func(c *config) { c.v2.sharedRotation = true } }

func isV2Method(method string) bool {
	return len(method) > 9 && strings.EqualFold(method[:9], "imbot.v2.")
}

// v2Token is the botToken of a v2 call: fields.botToken for Bot.register, top level otherwise.
func v2Token(method string, ps params) string {
	if strings.EqualFold(method, "imbot.v2.Bot.register") {
		if f := ps.mapOf("FIELDS"); f != nil {
			return strings.TrimSpace(str(f["botToken"]))
		}
		return ""
	}
	return strings.TrimSpace(ps.str("BOTTOKEN"))
}

// v2App returns the application of an imbot.v2 call: the OAuth application, or for a webhook
// "custom"+botToken, which must then be sent (BOT_TOKEN_NOT_SPECIFIED). Revision.get and
// Event.get's neighbours that need no token return "".
func (c *caller) v2App(method string, ps params) (string, *apiError) {
	if strings.EqualFold(method, "imbot.v2.Revision.get") {
		return "", nil
	}
	if c.clientID != "" {
		return c.clientID, nil
	}
	t := v2Token(method, ps)
	if t == "" {
		return "", bad("BOT_TOKEN_NOT_SPECIFIED", "Bot token is not specified")
	}
	return "custom" + t, nil
}

var v2Specs = map[string]methodSpec{
	"imbot.v2.Revision.get":   {scope: "imbot", fn: (*Portal).revisionGet},
	"imbot.v2.Bot.register":   {scope: "imbot", fn: (*Portal).botRegisterV2},
	"imbot.v2.Bot.update":     {scope: "imbot", fn: (*Portal).botUpdateV2},
	"imbot.v2.Bot.get":        {scope: "imbot", fn: (*Portal).botGetV2},
	"imbot.v2.Bot.list":       {scope: "imbot", fn: (*Portal).botListV2},
	"imbot.v2.Bot.unregister": {scope: "imbot", fn: (*Portal).botUnregisterV2},
	"imbot.v2.Event.get":      {scope: "imbot", fn: (*Portal).eventGetV2},

	"imbot.v2.Command.register":   {scope: "imbot", fn: (*Portal).commandRegisterV2},
	"imbot.v2.Command.update":     {scope: "imbot", fn: (*Portal).commandUpdateV2},
	"imbot.v2.Command.list":       {scope: "imbot", fn: (*Portal).commandListV2},
	"imbot.v2.Command.unregister": {scope: "imbot", fn: (*Portal).commandUnregisterV2},

	"imbot.command.register":   {scope: "imbot", fn: (*Portal).commandRegister},
	"imbot.command.update":     {scope: "imbot", fn: (*Portal).commandUpdate},
	"imbot.command.unregister": {scope: "imbot", fn: (*Portal).commandUnregister},
}

func (p *Portal) revisionGet(*call) (any, *apiError) {
	return map[string]any{"rest": simRESTRevision, "web": 130, "mobile": 23, "desktop": 6}, nil
}

// eventGetV2 polls and acknowledges a bot's events. The simulator holds no events; it counts
// the calls, because the operator must never make one (it would swallow the team's messages).
func (p *Portal) eventGetV2(c *call) (any, *apiError) {
	p.eventGets++
	offset, _ := c.params.int("OFFSET")
	return map[string]any{"events": []any{}, "nextOffset": offset, "hasMore": false}, nil
}

// v2 bot types and their v1 letters (Bot.Type keeps the letter; "personal" as H is the
// simulator's choice).
var v2Types = map[string]string{"bot": "B", "supervisor": "S", "openline": "O", "personal": "H", "network": "N"}

func v2TypeName(letter string) string {
	for name, l := range v2Types {
		if l == letter {
			return name
		}
	}
	return "bot"
}

var backgrounds = []string{"azure", "mint", "steel", "slate", "teal", "cornflower", "sky", "peach", "frost"}

// v2Flag reads a v2 boolean: true/false or "Y"/"N". ok is false for anything else.
func v2Flag(v any) (val, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch x {
		case "Y":
			return true, true
		case "N":
			return false, true
		}
	}
	return false, false
}

// invalidArg refuses a parameter of the wrong type (the simulator's own code: the docs name
// none for it).
func invalidArg(name string) *apiError {
	return bad("INVALID_ARGUMENT", fmt.Sprintf("Parameter %s has an invalid value", name))
}

// applyV2Fields applies the bot fields present in f onto a copy of b (register and update).
func (p *Portal) applyV2Fields(b Bot, f params, register bool) (Bot, *apiError) {
	for k, dst := range map[string]*bool{"isHidden": &b.Hidden, "isReactionsEnabled": &b.ReactionsEnabled, "isSupportOpenline": &b.SupportOpenline} {
		if v, ok := f[k]; ok {
			val, ok := v2Flag(v)
			if !ok {
				return b, invalidArg("fields." + k)
			}
			*dst = val
		}
	}
	if v, ok := f["backgroundId"]; ok {
		// Bitrix normalises an unknown background to null.
		b.BackgroundID = ""
		if s := str(v); slices.Contains(backgrounds, s) {
			b.BackgroundID = s
		}
	}
	mode := b.EventMode
	if v, ok := f["eventMode"]; ok {
		mode = str(v)
		if mode != "fetch" && mode != "webhook" {
			return b, bad("BOT_INVALID_EVENT_MODE", "Invalid event mode")
		}
	}
	url := b.WebhookURL
	if v, ok := f["webhookUrl"]; ok {
		url = str(v)
		if url != "" && !validURL(url) {
			return b, bad("BOT_INVALID_CALLBACK", "Invalid callback URL")
		}
	}
	if mode == "webhook" && url == "" {
		return b, bad("BOT_WEBHOOK_URL_REQUIRED", "Webhook URL is required")
	}
	if mode == "fetch" {
		url = "" // the subscriptions are removed
	}
	b.EventMode, b.WebhookURL = mode, url
	if props := mapOf(f["properties"]); props != nil {
		set := func(dst *string, k string) {
			if v, ok := props[k]; ok {
				*dst = str(v)
			}
		}
		set(&b.Properties.Name, "name")
		set(&b.Properties.LastName, "lastName")
		set(&b.Properties.WorkPosition, "workPosition")
		if v, ok := props["color"]; ok {
			// An unknown colour is ignored.
			if c := strings.ToUpper(str(v)); colors[c] != "" {
				b.Properties.Color = c
			}
		}
		if v, ok := props["gender"]; ok {
			if g := str(v); g == "M" || g == "F" {
				b.Properties.Gender = g
			}
		}
		if v, ok := props["avatar"]; ok && str(v) != "" {
			img, ok := decodeBase64(str(v))
			if !ok {
				return b, bad("BOT_AVATAR_INCORRECT_TYPE", "Avatar must be an image")
			}
			b.Properties.Photo = img
		}
	} else if _, given := f["properties"]; given && register {
		return b, bad("BOT_PROPERTIES_REQUIRED", "Bot properties are required")
	}
	if register && strings.TrimSpace(b.Properties.Name) == "" {
		return b, bad("BOT_PROPERTIES_REQUIRED", "Bot properties are required")
	}
	return b, nil
}

func (p *Portal) botRegisterV2(c *call) (any, *apiError) {
	f := c.params.mapOf("FIELDS")
	if f == nil {
		return nil, bad("BOT_CODE_REQUIRED", "Bot code is required")
	}
	code, isStr := f["code"].(string)
	if !isStr || strings.TrimSpace(code) == "" {
		return nil, bad("BOT_CODE_REQUIRED", "Bot code is required")
	}
	if c.caller.clientID == "" && utf8.RuneCountInString(v2Token("imbot.v2.Bot.register", c.params)) > maxV2Token {
		// Since 2026-08-06; bots registered with a longer token before keep working.
		return nil, bad("BOT_TOKEN_INVALID_LENGTH", fmt.Sprintf("Bot token must not be longer than %d characters", maxV2Token))
	}
	if mapOf(f["properties"]) == nil {
		return nil, bad("BOT_PROPERTIES_REQUIRED", "Bot properties are required")
	}
	typ := "bot"
	if v, ok := f["type"]; ok {
		typ = str(v)
	}
	letter, known := v2Types[typ]
	if !known {
		return nil, bad("BOT_INVALID_TYPE", "Invalid bot type")
	}
	if _, ok := f["eventMode"]; !ok {
		f = maps2(f, "eventMode", "fetch")
	}
	b, e := p.applyV2Fields(Bot{ReactionsEnabled: true}, f, true)
	if e != nil {
		return nil, e
	}
	// The code is unique on the whole portal. The same application gets its bot back, not
	// updated; another application's code is taken. Only then is the limit checked, so a
	// re-register never fails on it.
	if existing := p.botByCode(code); existing != nil {
		if existing.App != c.app {
			return nil, bad("BOT_CODE_ALREADY_TAKEN", "Bot code is already taken")
		}
		return p.botV2Answer(existing, true), nil
	}
	if p.botCount(c.app) >= p.cfg.v2.maxBots {
		return nil, bad("BOT_LIMIT_EXCEEDED", fmt.Sprintf("Bot limit exceeded (%d bots)", p.cfg.v2.maxBots))
	}
	b.ID, b.Code, b.App, b.API, b.Type = p.nextBotID, code, c.app, APIV2, letter
	b.Openline = typ == "openline" || b.SupportOpenline
	if b.Properties.Color == "" {
		b.Properties.Color = colorOrder[b.ID%len(colorOrder)]
	}
	p.nextBotID++
	p.bots[b.ID] = &b
	return p.botV2Answer(&b, true), nil
}

// maps2 returns a copy of m with k set to v.
func maps2(m params, k string, v any) params {
	out := make(params, len(m)+1)
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

// ownBotV2 finds botId among the caller's bots: BOT_ID_REQUIRED, BOT_NOT_FOUND,
// BOT_OWNERSHIP_ERROR.
func (p *Portal) ownBotV2(c *call) (*Bot, *apiError) {
	id, ok := c.params.int("BOTID")
	if !ok || id <= 0 {
		return nil, bad("BOT_ID_REQUIRED", "Bot ID is required")
	}
	b, found := p.bots[id]
	if !found {
		return nil, bad("BOT_NOT_FOUND", "Bot not found")
	}
	if b.App != c.app {
		return nil, errf(http.StatusForbidden, "BOT_OWNERSHIP_ERROR", "Bot is registered by another application")
	}
	return b, nil
}

func (p *Portal) botUpdateV2(c *call) (any, *apiError) {
	b, e := p.ownBotV2(c)
	if e != nil {
		return nil, e
	}
	f := c.params.mapOf("FIELDS")
	// code and type cannot change: ignored.
	next, e := p.applyV2Fields(*b, f, false)
	if e != nil {
		return nil, e
	}
	if v, ok := f["botToken"]; ok && strings.TrimSpace(str(v)) != "" && c.caller.clientID == "" {
		// Rotation: the call authenticated with the old token; the new one takes over at once.
		token := strings.TrimSpace(str(v))
		if utf8.RuneCountInString(token) > maxV2Token {
			return nil, bad("BOT_TOKEN_INVALID_LENGTH", fmt.Sprintf("Bot token must not be longer than %d characters", maxV2Token))
		}
		app := "custom" + token
		for _, other := range p.bots {
			if other.ID != b.ID && other.App == app && !p.cfg.v2.sharedRotation {
				return nil, bad("BOT_TOKEN_ROTATION_FAILED", "Bot token rotation failed")
			}
		}
		next.App = app
		for _, cmd := range p.commands {
			if cmd.BotID == b.ID {
				cmd.App = app
			}
		}
	}
	*b = next
	return p.botV2Answer(b, true), nil
}

func (p *Portal) botGetV2(c *call) (any, *apiError) {
	var b *Bot
	if id, ok := c.params.int("BOTID"); ok && id > 0 {
		b = p.bots[id]
	} else if code := c.params.str("CODE"); code != "" {
		b = p.botByCode(code) // portal-wide
	} else {
		return nil, bad("PARAMS_REQUIRED", "Required parameters are missing")
	}
	if b == nil {
		return nil, bad("BOT_NOT_FOUND", "Bot not found")
	}
	return p.botV2Answer(b, b.App == c.app), nil
}

func (p *Portal) botListV2(c *call) (any, *apiError) {
	limit, ok := c.params.int("LIMIT")
	if !ok || limit <= 0 {
		limit = 50
	}
	offset, _ := c.params.int("OFFSET")
	if offset < 0 {
		offset = 0
	}
	typ := ""
	if f := c.params.mapOf("FILTER"); f != nil {
		typ = str(f["type"])
	}
	var own []*Bot
	for _, b := range p.bots {
		// Only the caller's bots; an unknown type matches none.
		if b.App == c.app && (typ == "" || v2TypeName(b.Type) == typ) {
			own = append(own, b)
		}
	}
	sort.Slice(own, func(i, j int) bool { return own[i].ID < own[j].ID })
	page := own[min(offset, len(own)):min(offset+limit, len(own))]
	bots, users := []any{}, []any{}
	for _, b := range page {
		bots = append(bots, p.botV2Object(b, true))
		users = append(users, p.botV2User(b))
	}
	return map[string]any{"bots": bots, "users": users, "hasNextPage": offset+limit < len(own)}, nil
}

func (p *Portal) botUnregisterV2(c *call) (any, *apiError) {
	b, e := p.ownBotV2(c)
	if e != nil {
		return nil, e
	}
	p.deleteBot(b.ID)
	return map[string]any{"result": true}, nil
}

// botV2Answer is {bot, users}: the full form for the owner, the brief one for others.
func (p *Portal) botV2Answer(b *Bot, full bool) map[string]any {
	return map[string]any{"bot": p.botV2Object(b, full), "users": []any{p.botV2User(b)}}
}

func (p *Portal) botV2Object(b *Bot, full bool) map[string]any {
	var bg any
	if b.BackgroundID != "" {
		bg = b.BackgroundID
	}
	out := map[string]any{
		"id": b.ID, "code": b.Code, "type": v2TypeName(b.Type), "isHidden": b.Hidden,
		"isSupportOpenline": b.SupportOpenline || b.Openline, "isReactionsEnabled": b.ReactionsEnabled,
		"backgroundId": bg, "language": p.cfg.v2.language,
	}
	if !full {
		return out
	}
	out["moduleId"] = "rest"
	if b.API == APIV2 {
		out["eventMode"] = b.EventMode
	}
	n := 0
	for _, cmd := range p.commands {
		if cmd.BotID == b.ID {
			n++
		}
	}
	chats := 0
	for _, ch := range p.chats {
		if ch.isMember(b.ID) {
			chats++
		}
	}
	out["countMessage"], out["countCommand"], out["countChat"], out["countUser"] = 0, n, chats, 0
	return out
}

func (p *Portal) botV2User(b *Bot) map[string]any {
	avatar := ""
	if len(b.Properties.Photo) > 0 {
		avatar = p.cfg.baseURL + "/upload/main/bot" + strconv.Itoa(b.ID) + ".png"
	}
	return map[string]any{
		"id": b.ID, "active": true, "name": fullName(b.Properties), "firstName": b.Properties.Name,
		"lastName": b.Properties.LastName, "workPosition": b.Properties.WorkPosition,
		"color": colors[b.Properties.Color], "gender": b.Properties.Gender, "avatar": avatar,
		"bot": true, "type": "bot",
	}
}
