package bitrix

import (
	"context"
	"fmt"
	"strings"
)

// JS_METHOD values of a chat app.
const (
	JSMethodPut     = "PUT"     // put a command into the text area
	JSMethodSend    = "SEND"    // send a command to the bot
	JSMethodCall    = "CALL"    // call a phone number
	JSMethodSupport = "SUPPORT" // open an open channel; JSParam is its 32-character code
)

// AppParams are the fields of imbot.app.register and imbot.app.update. A chat app is either a
// JS command (JSMethod + JSParam) or an IFRAME (IframeURL, size, Hash); when both are set
// Bitrix uses the JS command.
type AppParams struct {
	BotID    int    // BOT_ID; register only
	Code     string // CODE; register only. Bitrix returns the existing app for the same (BOT_ID, CODE).
	JSMethod string // PUT, SEND, CALL or SUPPORT
	JSParam  string // PUT/SEND: only a-z 0-9 - + _ / ; SUPPORT: the open channel code

	IframeURL    string // IFRAME, https only (else IFRAME_HTTPS)
	IframeWidth  int    // IFRAME_WIDTH, >= 250
	IframeHeight int    // IFRAME_HEIGHT, >= 50
	Hash         string // HASH, exactly 32 characters (else HASH_ERROR)
	IframePopup  bool   // IFRAME_POPUP

	Icon []byte // ICON_FILE, image bytes (sent base64)
	// Context is ALL, USER, CHAT, BOT, LINES or CALL, optionally with the "-admin" suffix
	// ("BOT-admin"). Empty: Bitrix's default (ALL).
	Context string
	// AdminOnly appends "-admin" to Context (to ALL when Context is empty): only portal
	// administrators see the app.
	AdminOnly       bool
	Hidden          bool // HIDDEN
	ExtranetSupport bool // EXTRANET_SUPPORT
	LivechatSupport bool // LIVECHAT_SUPPORT
	// Lang holds the titles; required unless Hidden (else LANG_ERROR).
	Lang []AppLang
}

// AppLang is one LANG entry.
type AppLang struct {
	LanguageID  string // LANGUAGE_ID: en, ru, de...
	Title       string
	Description string
	Copyright   string
}

// AppRegister calls imbot.app.register and returns APP_ID. The same (BOT_ID, CODE) returns the
// existing app without updating it, so a retry is safe; use AppUpdate to apply changes.
func (c *Client) AppRegister(ctx context.Context, p AppParams) (int, error) {
	ps := appFields(p, false)
	ps.setInt("BOT_ID", p.BotID)
	ps.setString("CODE", p.Code)
	raw, err := c.call(ctx, "imbot.app.register", ps, idempotent)
	if err != nil {
		return 0, fmt.Errorf("register chat app %q: %w", p.Code, err)
	}
	id, err := decodeInt(raw)
	if err != nil {
		return 0, fmt.Errorf("register chat app %q: %w", p.Code, decodeError("imbot.app.register", err))
	}
	return id, nil
}

// AppUpdate calls imbot.app.update with p's fields inside FIELDS. There is no get method for
// chat apps, so the whole desired state is sent: every set field, and every flag as Y or N so
// that turning one off takes effect. BotID and Code are identity and are not sent.
func (c *Client) AppUpdate(ctx context.Context, appID int, p AppParams) error {
	raw, err := c.call(ctx, "imbot.app.update", params{"APP_ID": appID, "FIELDS": appFields(p, true)}, idempotent)
	if err != nil {
		return fmt.Errorf("update chat app %d: %w", appID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("update chat app %d: %w", appID, decodeError("imbot.app.update", err))
	}
	return nil
}

// AppUnregister calls imbot.app.unregister. An app that is already gone answers
// CHAT_APP_ID_ERROR (IsGone).
func (c *Client) AppUnregister(ctx context.Context, appID int) error {
	raw, err := c.call(ctx, "imbot.app.unregister", params{"APP_ID": appID}, idempotent)
	if err != nil {
		return fmt.Errorf("unregister chat app %d: %w", appID, err)
	}
	if err := decodeTrue(raw); err != nil {
		return fmt.Errorf("unregister chat app %d: %w", appID, decodeError("imbot.app.unregister", err))
	}
	return nil
}

// appFields builds the app's fields. explicitFlags sends every flag as Y/N (updates); a
// registration leaves false flags out (N is the default).
func appFields(p AppParams, explicitFlags bool) params {
	out := params{}
	flag := out.setFlag
	if explicitFlags {
		flag = func(k string, v bool) { out[k] = yn(v) }
	}
	if p.JSMethod != "" {
		out["JS_METHOD"] = strings.ToUpper(p.JSMethod)
		out.setString("JS_PARAM", p.JSParam)
	}
	if p.IframeURL != "" {
		out["IFRAME"] = p.IframeURL
		out.setInt("IFRAME_WIDTH", p.IframeWidth)
		out.setInt("IFRAME_HEIGHT", p.IframeHeight)
		out.setString("HASH", p.Hash)
		flag("IFRAME_POPUP", p.IframePopup)
	}
	out.setBytes("ICON_FILE", p.Icon)
	if ctx := appContext(p.Context, p.AdminOnly); ctx != "" {
		out["CONTEXT"] = ctx
	}
	flag("HIDDEN", p.Hidden)
	flag("EXTRANET_SUPPORT", p.ExtranetSupport)
	flag("LIVECHAT_SUPPORT", p.LivechatSupport)
	if len(p.Lang) > 0 {
		langs := make([]params, 0, len(p.Lang))
		for _, l := range p.Lang {
			lp := params{}
			lp.setString("LANGUAGE_ID", l.LanguageID)
			lp.setString("TITLE", l.Title)
			lp.setString("DESCRIPTION", l.Description)
			lp.setString("COPYRIGHT", l.Copyright)
			langs = append(langs, lp)
		}
		out["LANG"] = langs
	}
	return out
}

// appContext renders CONTEXT: upper case, with "-admin" appended for admin-only apps.
func appContext(ctx string, adminOnly bool) string {
	base, admin := strings.CutSuffix(strings.ToLower(ctx), "-admin")
	base = strings.ToUpper(base)
	if !admin && !adminOnly {
		return base
	}
	if base == "" {
		base = "ALL"
	}
	return base + "-admin"
}
