package bitrix

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// CommandParams are the fields of the v1 imbot.command.register and imbot.command.update.
type CommandParams struct {
	BotID int // BOT_ID; register only
	// Command is COMMAND: Latin letters and digits, no spaces (Bitrix strips a leading "/").
	Command string
	// EventHandler is EVENT_COMMAND_ADD. One application has one command handler: every
	// register and update re-binds the application's ONIMCOMMANDADD to the latest URL, so
	// give every command of an application the same one. For webhook applications Bitrix
	// appends ?CLIENT_ID=<id> to it.
	EventHandler string
	// Lang holds the titles (LANG); required (LANG_ERROR).
	Lang []CommandLang
	// Common (COMMON) makes the command usable in every chat. It cannot be changed by
	// imbot.command.update: unregister and register again.
	Common          bool
	Hidden          bool // HIDDEN
	ExtranetSupport bool // EXTRANET_SUPPORT
}

// CommandLang is one LANG entry of a v1 command.
type CommandLang struct {
	LanguageID string // LANGUAGE_ID: en, de...
	Title      string
	Params     string // the hint for the command's parameters
}

// CommandRegister calls imbot.command.register and returns COMMAND_ID. The same (BOT_ID,
// COMMAND) returns the existing command without updating it (it only re-binds the command
// handler), so a retry after a lost answer is safe. v1 has no list method: keep the id.
func (c *Client) CommandRegister(ctx context.Context, p CommandParams) (int, error) {
	ps := params{
		"BOT_ID": p.BotID, "COMMAND": p.Command, "EVENT_COMMAND_ADD": p.EventHandler,
		"COMMON": yn(p.Common), "HIDDEN": yn(p.Hidden), "EXTRANET_SUPPORT": yn(p.ExtranetSupport),
		"LANG": commandLang(p.Lang),
	}
	raw, err := c.call(ctx, "imbot.command.register", ps, idempotent)
	if err != nil {
		return 0, fmt.Errorf("register command %q of bot %d: %w", p.Command, p.BotID, err)
	}
	id, err := decodeInt(raw)
	if err != nil {
		return 0, fmt.Errorf("register command %q of bot %d: %w", p.Command, p.BotID, decodeError("imbot.command.register", err))
	}
	return id, nil
}

// CommandUpdate calls imbot.command.update with the whole desired state in FIELDS: COMMAND,
// EVENT_COMMAND_ADD, HIDDEN and EXTRANET_SUPPORT as Y/N, and LANG (which replaces every
// language). COMMON is never sent: Bitrix cannot change it (unregister and register again).
func (c *Client) CommandUpdate(ctx context.Context, commandID int, p CommandParams) error {
	fields := params{"HIDDEN": yn(p.Hidden), "EXTRANET_SUPPORT": yn(p.ExtranetSupport)}
	fields.setString("COMMAND", p.Command)
	fields.setString("EVENT_COMMAND_ADD", p.EventHandler)
	if len(p.Lang) > 0 {
		fields["LANG"] = commandLang(p.Lang)
	}
	raw, err := c.call(ctx, "imbot.command.update", params{"COMMAND_ID": commandID, "FIELDS": fields}, idempotent)
	if err != nil {
		return fmt.Errorf("update command %d: %w", commandID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("update command %d: %w", commandID, decodeError("imbot.command.update", err))
	}
	return nil
}

// CommandUnregister calls imbot.command.unregister. A command that is already gone (with its
// bot, or removed in the portal) answers COMMAND_ID_ERROR (IsGone).
func (c *Client) CommandUnregister(ctx context.Context, commandID int) error {
	raw, err := c.call(ctx, "imbot.command.unregister", params{"COMMAND_ID": commandID}, idempotent)
	if err != nil {
		return fmt.Errorf("unregister command %d: %w", commandID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("unregister command %d: %w", commandID, decodeError("imbot.command.unregister", err))
	}
	return nil
}

func commandLang(langs []CommandLang) []any {
	out := make([]any, 0, len(langs))
	for _, l := range langs {
		e := params{"LANGUAGE_ID": l.LanguageID, "TITLE": l.Title}
		e.setString("PARAMS", l.Params)
		out = append(out, e)
	}
	return out
}

// CommandHandlerURL returns the URL Bitrix binds for a webhook application's v1 command
// handler: EVENT_COMMAND_ADD with ?CLIENT_ID=<clientID> appended (&CLIENT_ID= when the URL
// already has a query). An empty clientID (OAuth) returns the URL as given.
func CommandHandlerURL(handler, clientID string) string {
	if clientID == "" {
		return handler
	}
	sep := "?"
	if strings.Contains(handler, "?") {
		sep = "&"
	}
	return handler + sep + "CLIENT_ID=" + url.QueryEscape(clientID)
}
