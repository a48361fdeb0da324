package bitrix

import (
	"context"
	"encoding/json"
	"fmt"
)

// Bot types (TYPE).
const (
	BotTypeBot        = "B" // answers come at once (the default)
	BotTypeOpenLine   = "O" // open channels bot
	BotTypeSupervisor = "S" // sees every message in its chats
	BotTypeHuman      = "H" // shown as a person
)

// BotParams are the fields of imbot.register and imbot.update.
type BotParams struct {
	// Code identifies the bot. Bitrix returns the existing bot for a known CODE, whichever
	// application registered it, so registering by CODE is idempotent.
	Code string
	// Type is B (default), O, S or H. Sent on register only: it cannot change.
	Type string
	// Openline turns on open channels support (implied by Type O). Register only.
	Openline bool

	// EventHandler receives every event. Set it, or the separate handlers below.
	EventHandler string
	// EventMessageAdd, EventWelcomeMessage and EventBotDelete are required when EventHandler
	// is empty. One application has one handler set: every bot of it must use the same URLs.
	EventMessageAdd     string
	EventWelcomeMessage string
	EventBotDelete      string
	// EventMessageUpdate and EventMessageDelete are used only by S and O bots and bots with
	// Openline.
	EventMessageUpdate string
	EventMessageDelete string

	Properties BotProperties
}

// BotProperties are the bot's PROPERTIES. Empty fields are omitted.
type BotProperties struct {
	Name         string // NAME; NAME or LAST_NAME is required
	LastName     string // LAST_NAME
	Color        string // COLOR: RED, GREEN, MINT, LIGHT_BLUE, ...
	Email        string // EMAIL
	Birthday     string // PERSONAL_BIRTHDAY, YYYY-MM-DD
	WorkPosition string // WORK_POSITION
	Website      string // PERSONAL_WWW
	Gender       string // PERSONAL_GENDER, M or F
	Photo        []byte // PERSONAL_PHOTO, image bytes (sent base64)
}

// BotInfo is one entry of imbot.bot.list. Bitrix lists every bot of the portal, of all
// applications, with no owner field.
type BotInfo struct {
	ID       int
	Name     string
	Code     string
	Openline bool
}

// AppInfo is the result of app.info.
type AppInfo struct {
	ID      int
	Code    string
	Version int
	Status  string
	// Installed is false while an OAuth application's installation was never finished:
	// registration still succeeds but Bitrix delivers no events to it.
	Installed bool
}

// Scope returns the scopes the credentials grant ("imbot", "im"...). It is the cheap check
// that the credentials work.
func (c *Client) Scope(ctx context.Context) ([]string, error) {
	raw, err := c.call(ctx, "scope", params{}, idempotent)
	if err != nil {
		return nil, err
	}
	var scopes []string
	if err := json.Unmarshal(raw, &scopes); err != nil {
		return nil, decodeError("scope", err)
	}
	return scopes, nil
}

// AppInfo reads app.info. For an OAuth application, Installed false means the installation
// was never finished and the portal sends it no events.
func (c *Client) AppInfo(ctx context.Context) (AppInfo, error) {
	raw, err := c.call(ctx, "app.info", params{}, idempotent)
	if err != nil {
		return AppInfo{}, err
	}
	return decodeAppInfo(raw)
}

func decodeAppInfo(raw json.RawMessage) (AppInfo, error) {
	var v struct {
		ID        flexInt  `json:"ID"`
		Code      string   `json:"CODE"`
		Version   flexInt  `json:"VERSION"`
		Status    string   `json:"STATUS"`
		Installed flexBool `json:"INSTALLED"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return AppInfo{}, decodeError("app.info", err)
	}
	return AppInfo{ID: int(v.ID), Code: v.Code, Version: int(v.Version), Status: v.Status, Installed: bool(v.Installed)}, nil
}

// Register calls imbot.register and returns BOT_ID. A known CODE returns the existing bot
// without creating or updating anything (it only re-binds this application's handlers), so a
// retry after a lost answer is safe; when that bot belongs to another application, later calls
// on it fail with APP_ID_ERROR.
func (c *Client) Register(ctx context.Context, p BotParams) (int, error) {
	raw, err := c.call(ctx, "imbot.register", registerParams(p), idempotent)
	if err != nil {
		return 0, fmt.Errorf("register bot %q: %w", p.Code, err)
	}
	id, err := decodeInt(raw)
	if err != nil {
		return 0, fmt.Errorf("register bot %q: %w", p.Code, decodeError("imbot.register", err))
	}
	return id, nil
}

// Update calls imbot.update with CODE, the event handlers and PROPERTIES inside FIELDS. TYPE
// and OPENLINE cannot change and are not sent. Bitrix answers WRONG_REQUEST when FIELDS ends
// up empty.
func (c *Client) Update(ctx context.Context, botID int, p BotParams) error {
	fields := params{}
	fields.setString("CODE", p.Code)
	setHandlers(fields, p)
	if props := propertiesParams(p.Properties); len(props) > 0 {
		fields["PROPERTIES"] = props
	}
	raw, err := c.call(ctx, "imbot.update", params{"BOT_ID": botID, "FIELDS": fields}, idempotent)
	if err != nil {
		return fmt.Errorf("update bot %d: %w", botID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("update bot %d: %w", botID, decodeError("imbot.update", err))
	}
	return nil
}

// Unregister calls imbot.unregister; Bitrix also removes the bot's commands, chat apps and
// personal chats. A bot that is already gone answers BOT_ID_ERROR (IsGone).
func (c *Client) Unregister(ctx context.Context, botID int) error {
	raw, err := c.call(ctx, "imbot.unregister", params{"BOT_ID": botID}, idempotent)
	if err != nil {
		return fmt.Errorf("unregister bot %d: %w", botID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("unregister bot %d: %w", botID, decodeError("imbot.unregister", err))
	}
	return nil
}

// BotList calls imbot.bot.list: every bot on the portal, keyed by id.
func (c *Client) BotList(ctx context.Context) (map[int]BotInfo, error) {
	raw, err := c.call(ctx, "imbot.bot.list", params{}, idempotent)
	if err != nil {
		return nil, fmt.Errorf("list bots: %w", err)
	}
	bots, err := decodeBotList(raw)
	if err != nil {
		return nil, fmt.Errorf("list bots: %w", decodeError("imbot.bot.list", err))
	}
	return bots, nil
}

func decodeBotList(raw json.RawMessage) (map[int]BotInfo, error) {
	bots := map[int]BotInfo{}
	// An empty PHP array is encoded as [] rather than {}.
	if isEmptyList(raw) || isNull(raw) {
		return bots, nil
	}
	var m map[string]struct {
		ID       flexInt  `json:"ID"`
		Name     string   `json:"NAME"`
		Code     string   `json:"CODE"`
		Openline flexBool `json:"OPENLINE"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, b := range m {
		bots[int(b.ID)] = BotInfo{ID: int(b.ID), Name: b.Name, Code: b.Code, Openline: bool(b.Openline)}
	}
	return bots, nil
}

func registerParams(p BotParams) params {
	out := params{}
	out.setString("CODE", p.Code)
	out.setString("TYPE", p.Type)
	out.setFlag("OPENLINE", p.Openline)
	setHandlers(out, p)
	out["PROPERTIES"] = propertiesParams(p.Properties)
	return out
}

// setHandlers sends EVENT_HANDLER when set (Bitrix copies it to every event), else each
// handler that is set.
func setHandlers(out params, p BotParams) {
	if p.EventHandler != "" {
		out["EVENT_HANDLER"] = p.EventHandler
		return
	}
	out.setString("EVENT_MESSAGE_ADD", p.EventMessageAdd)
	out.setString("EVENT_WELCOME_MESSAGE", p.EventWelcomeMessage)
	out.setString("EVENT_BOT_DELETE", p.EventBotDelete)
	out.setString("EVENT_MESSAGE_UPDATE", p.EventMessageUpdate)
	out.setString("EVENT_MESSAGE_DELETE", p.EventMessageDelete)
}

func propertiesParams(p BotProperties) params {
	out := params{}
	out.setString("NAME", p.Name)
	out.setString("LAST_NAME", p.LastName)
	out.setString("COLOR", p.Color)
	out.setString("EMAIL", p.Email)
	out.setString("PERSONAL_BIRTHDAY", p.Birthday)
	out.setString("WORK_POSITION", p.WorkPosition)
	out.setString("PERSONAL_WWW", p.Website)
	out.setString("PERSONAL_GENDER", p.Gender)
	out.setBytes("PERSONAL_PHOTO", p.Photo)
	return out
}

// decodeError reports a result that does not have the documented shape.
func decodeError(method string, err error) *Error {
	return &Error{Code: codeInvalidResponse, Method: method, Description: "unexpected result: " + describeDecode(err), cause: err}
}
