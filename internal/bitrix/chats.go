package bitrix

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Chat types (TYPE of imbot.chat.add).
const (
	ChatTypeChat = "CHAT" // by invitation (the default)
	ChatTypeOpen = "OPEN" // anyone may join
)

// colorHex maps the colour names that Bitrix accepts to the hex that imbot.dialog.get returns.
var colorHex = map[string]string{
	"RED": "#df532d", "GREEN": "#64a513", "MINT": "#4ba984", "LIGHT_BLUE": "#4ba5c3",
	"DARK_BLUE": "#3e99ce", "PURPLE": "#8474c8", "AQUA": "#1eb4aa", "PINK": "#f76187",
	"LIME": "#58cc47", "BROWN": "#ab7761", "AZURE": "#29619b", "KHAKI": "#728f7a",
	"SAND": "#ba9c7b", "MARENGO": "#556574", "GRAY": "#909090", "GRAPHITE": "#5e5f5e",
}

// ColorHex returns the hex colour (as imbot.dialog.get reports it) of a colour name such as
// "RED", so a desired name can be compared with a read Dialog.Color.
func ColorHex(name string) (string, bool) {
	h, ok := colorHex[strings.ToUpper(name)]
	return h, ok
}

// ColorName returns the colour name of a hex colour ("#df532d" -> "RED").
func ColorName(hex string) (string, bool) {
	for n, h := range colorHex {
		if strings.EqualFold(h, hex) {
			return n, true
		}
	}
	return "", false
}

// ChatAddParams are the fields of imbot.chat.add.
type ChatAddParams struct {
	BotID       int    // BOT_ID: always sent; Bitrix would otherwise pick the application's first bot
	Type        string // CHAT (default) or OPEN
	Title       string
	Description string
	Color       string // colour name: RED, GREEN, ...
	Message     string // first message, sent once
	Users       []int  // members besides the bot; required by Bitrix (USERS_EMPTY)
	Avatar      []byte // image bytes (sent base64)
	EntityType  string // ENTITY_TYPE: use a namespaced value, chat.get searches the whole portal
	EntityID    string // ENTITY_ID
	OwnerID     int    // OWNER_ID
}

// Dialog is what imbot.dialog.get reports about a group chat.
type Dialog struct {
	ID          int
	Name        string // the title
	Description string
	Owner       int
	Color       string // hex, "#df532d"; see ColorName
	Type        string // "chat", "open"...
	EntityType  string
	EntityID    string
	Avatar      string // avatar URL, "" when none
}

// ChatAdd calls imbot.chat.add and returns CHAT_ID. It is NOT idempotent: a repeat creates a
// second chat, so the client never repeats it after the request may have reached Bitrix; such
// an error is Ambiguous and the caller must look the chat up (ChatGet) before trying again.
func (c *Client) ChatAdd(ctx context.Context, p ChatAddParams) (int, error) {
	raw, err := c.call(ctx, "imbot.chat.add", chatAddParams(p), notIdempotent)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", chatAddWhat(p), err)
	}
	id, err := decodeInt(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", chatAddWhat(p), decodeError("imbot.chat.add", err))
	}
	return id, nil
}

// ChatAddCommand is imbot.chat.add as a batch command, with the fields ChatAdd sends. The add
// is not idempotent, and a batch is never repeated once it may have run: after an ambiguous
// failure, look the chat up by its entity (ChatGetCommand) before adding again.
func ChatAddCommand(key string, p ChatAddParams) BatchCommand {
	return BatchCommand{Key: key, Method: "imbot.chat.add", Params: chatAddParams(p)}
}

// ChatAdded decodes the result of a ChatAddCommand: the new chat's id.
func (r BatchResult) ChatAdded(key string, p ChatAddParams) (int, error) {
	if err := r.Err(key); err != nil {
		return 0, fmt.Errorf("%s: %w", chatAddWhat(p), err)
	}
	id, err := decodeInt(r.Results[key])
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s: %w", chatAddWhat(p), decodeError("imbot.chat.add", fmt.Errorf("unexpected answer %.40s", r.Results[key])))
	}
	return id, nil
}

func chatAddParams(p ChatAddParams) params {
	ps := params{"BOT_ID": p.BotID}
	ps.setString("TYPE", strings.ToUpper(p.Type))
	ps.setString("TITLE", p.Title)
	ps.setString("DESCRIPTION", p.Description)
	ps.setString("COLOR", strings.ToUpper(p.Color))
	ps.setString("MESSAGE", p.Message)
	if len(p.Users) > 0 {
		ps["USERS"] = p.Users
	}
	ps.setBytes("AVATAR", p.Avatar)
	ps.setString("ENTITY_TYPE", p.EntityType)
	ps.setString("ENTITY_ID", p.EntityID)
	ps.setInt("OWNER_ID", p.OwnerID)
	return ps
}

func chatAddWhat(p ChatAddParams) string {
	if p.EntityType != "" || p.EntityID != "" {
		return fmt.Sprintf("add chat for entity %s/%s", p.EntityType, p.EntityID)
	}
	return fmt.Sprintf("add chat %q", p.Title)
}

// ChatGet calls imbot.chat.get: the first chat of the whole portal with this entity, or
// found=false (Bitrix answers null).
func (c *Client) ChatGet(ctx context.Context, botID int, entityType, entityID string) (chatID int, found bool, err error) {
	raw, err := c.call(ctx, "imbot.chat.get", chatGetParams(botID, entityType, entityID), idempotent)
	if err != nil {
		return 0, false, fmt.Errorf("find chat %s/%s: %w", entityType, entityID, err)
	}
	id, found, err := decodeChatGet(raw)
	if err != nil {
		return 0, false, fmt.Errorf("find chat %s/%s: %w", entityType, entityID, decodeError("imbot.chat.get", err))
	}
	return id, found, nil
}

func chatGetParams(botID int, entityType, entityID string) params {
	return params{"BOT_ID": botID, "ENTITY_TYPE": entityType, "ENTITY_ID": entityID}
}

func decodeChatGet(raw json.RawMessage) (int, bool, error) {
	if isNull(raw) || isEmptyList(raw) || string(raw) == "false" {
		return 0, false, nil
	}
	var v struct {
		ID flexInt `json:"ID"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, err
	}
	if v.ID == 0 {
		return 0, false, nil
	}
	return int(v.ID), true, nil
}

// DialogGet calls imbot.dialog.get for DIALOG_ID "chat<chatID>".
func (c *Client) DialogGet(ctx context.Context, botID, chatID int) (Dialog, error) {
	raw, err := c.call(ctx, "imbot.dialog.get", dialogGetParams(botID, chatID), idempotent)
	if err != nil {
		return Dialog{}, fmt.Errorf("read chat %d: %w", chatID, err)
	}
	d, err := decodeDialog(raw)
	if err != nil {
		return Dialog{}, fmt.Errorf("read chat %d: %w", chatID, decodeError("imbot.dialog.get", err))
	}
	return d, nil
}

func dialogGetParams(botID, chatID int) params {
	return params{"BOT_ID": botID, "DIALOG_ID": "chat" + strconv.Itoa(chatID)}
}

func decodeDialog(raw json.RawMessage) (Dialog, error) {
	var v struct {
		ID          flexInt `json:"id"`
		Name        *string `json:"name"`
		Title       string  `json:"title"` // older answers (and the docs' example) say title
		Description string  `json:"description"`
		Owner       flexInt `json:"owner"`
		Color       string  `json:"color"`
		Type        string  `json:"type"`
		EntityType  string  `json:"entity_type"`
		EntityID    any     `json:"entity_id"`
		Avatar      string  `json:"avatar"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return Dialog{}, err
	}
	d := Dialog{
		ID: int(v.ID), Name: v.Title, Description: v.Description, Owner: int(v.Owner),
		Color: v.Color, Type: v.Type, EntityType: v.EntityType, Avatar: v.Avatar,
	}
	if v.Name != nil {
		d.Name = *v.Name
	}
	switch id := v.EntityID.(type) {
	case string:
		d.EntityID = id
	case float64:
		d.EntityID = strconv.FormatFloat(id, 'f', -1, 64)
	}
	return d, nil
}

// ChatUpdateTitle calls imbot.chat.updateTitle. Setting the current title answers
// WRONG_REQUEST: compare first.
func (c *Client) ChatUpdateTitle(ctx context.Context, botID, chatID int, title string) error {
	return c.chatTrue(ctx, "imbot.chat.updateTitle", "set title of chat", chatID,
		params{"BOT_ID": botID, "CHAT_ID": chatID, "TITLE": title})
}

// ChatUpdateColor calls imbot.chat.updateColor with a colour name (RED, GREEN...). Setting the
// current colour answers WRONG_REQUEST: compare first (Dialog.Color is hex, see ColorHex).
func (c *Client) ChatUpdateColor(ctx context.Context, botID, chatID int, color string) error {
	return c.chatTrue(ctx, "imbot.chat.updateColor", "set colour of chat", chatID,
		params{"BOT_ID": botID, "CHAT_ID": chatID, "COLOR": strings.ToUpper(color)})
}

// ChatUpdateAvatar calls imbot.chat.updateAvatar with the image bytes (sent base64).
func (c *Client) ChatUpdateAvatar(ctx context.Context, botID, chatID int, avatar []byte) error {
	ps := params{"BOT_ID": botID, "CHAT_ID": chatID}
	ps.setBytes("AVATAR", avatar)
	return c.chatTrue(ctx, "imbot.chat.updateAvatar", "set avatar of chat", chatID, ps)
}

// ChatSetOwner calls imbot.chat.setOwner. Only the current owner may hand over, to a member.
func (c *Client) ChatSetOwner(ctx context.Context, botID, chatID, userID int) error {
	return c.chatTrue(ctx, "imbot.chat.setOwner", "set owner of chat", chatID,
		params{"BOT_ID": botID, "CHAT_ID": chatID, "USER_ID": userID})
}

// ChatLeave calls imbot.chat.leave: the bot leaves the chat. An owner must hand over first.
func (c *Client) ChatLeave(ctx context.Context, botID, chatID int) error {
	return c.chatTrue(ctx, "imbot.chat.leave", "leave chat", chatID,
		params{"BOT_ID": botID, "CHAT_ID": chatID})
}

// ChatUserAdd calls imbot.chat.user.add. An existing member answers WRONG_REQUEST, so add only
// the missing ones. Not repeated by the client after the request may have reached Bitrix.
func (c *Client) ChatUserAdd(ctx context.Context, botID, chatID int, users []int) error {
	raw, err := c.call(ctx, "imbot.chat.user.add", params{"BOT_ID": botID, "CHAT_ID": chatID, "USERS": users}, notIdempotent)
	if err != nil {
		return fmt.Errorf("add users to chat %d: %w", chatID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("add users to chat %d: %w", chatID, decodeError("imbot.chat.user.add", err))
	}
	return nil
}

// ChatUserDelete calls imbot.chat.user.delete. A non-member answers WRONG_REQUEST, the owner
// LEAVE_OWNER_FORBIDDEN.
func (c *Client) ChatUserDelete(ctx context.Context, botID, chatID, userID int) error {
	return c.chatTrue(ctx, "imbot.chat.user.delete", "remove user from chat", chatID,
		params{"BOT_ID": botID, "CHAT_ID": chatID, "USER_ID": userID})
}

// ChatUserList calls imbot.chat.user.list: the member ids, the bot included.
func (c *Client) ChatUserList(ctx context.Context, botID, chatID int) ([]int, error) {
	raw, err := c.call(ctx, "imbot.chat.user.list", chatUserListParams(botID, chatID), idempotent)
	if err != nil {
		return nil, fmt.Errorf("list users of chat %d: %w", chatID, err)
	}
	ids, err := decodeUserList(raw)
	if err != nil {
		return nil, fmt.Errorf("list users of chat %d: %w", chatID, decodeError("imbot.chat.user.list", err))
	}
	return ids, nil
}

func chatUserListParams(botID, chatID int) params {
	return params{"BOT_ID": botID, "CHAT_ID": chatID}
}

func decodeUserList(raw json.RawMessage) ([]int, error) {
	if isNull(raw) || isEmptyList(raw) {
		return []int{}, nil
	}
	var ids []flexInt
	if err := json.Unmarshal(raw, &ids); err != nil {
		// PHP sends a list with holes as an object keyed by index.
		var m map[string]flexInt
		if err2 := json.Unmarshal(raw, &m); err2 != nil {
			return nil, err
		}
		for _, v := range m {
			ids = append(ids, v)
		}
		slices.Sort(ids)
	}
	out := make([]int, len(ids))
	for i, v := range ids {
		out[i] = int(v)
	}
	return out, nil
}

// chatTrue runs a chat method whose result is `true`. These updates are idempotent as far as
// the remote state goes; a repeat of one that already ran answers WRONG_REQUEST, which the
// client then reports as Ambiguous.
func (c *Client) chatTrue(ctx context.Context, method, what string, chatID int, ps params) error {
	raw, err := c.call(ctx, method, ps, idempotent)
	if err != nil {
		return fmt.Errorf("%s %d: %w", what, chatID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("%s %d: %w", what, chatID, decodeError(method, err))
	}
	return nil
}
