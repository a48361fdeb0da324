package bitrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// CommandV2Params are the fields of imbot.v2.Command.register and Command.update. There is no
// handler URL: a v2 bot receives ONIMBOTV2COMMANDADD through its own event mode.
type CommandV2Params struct {
	// Command is the command without its leading "/". Register only here: the operator never
	// renames a command.
	Command string
	// Title and Params map a two-letter language (en, de...) to its text. Title is required
	// unless Hidden (COMMAND_TITLE_REQUIRED).
	Title  map[string]string
	Params map[string]string

	Common          bool // usable in every chat, not only where the bot is
	Hidden          bool
	ExtranetSupport bool
}

// CommandV2 is a command as imbot.v2 reports it. Title and Params are in the portal's language
// only (with a fallback to the default language): the other languages cannot be read back, so
// a drift check can compare only that one.
type CommandV2 struct {
	ID              int
	BotID           int
	Command         string // without the leading "/" Bitrix reports
	Title           string
	Params          string
	Common          bool
	Hidden          bool
	ExtranetSupport bool
}

// CommandRegisterV2 calls imbot.v2.Command.register (parameters in `fields`: the old flat
// format lost support on 2026-09-30). The same command for the same bot returns the existing
// one without updating it, so a retry after a lost answer is safe; use CommandUpdateV2 to
// apply changes.
func (c *Client) CommandRegisterV2(ctx context.Context, botID int, p CommandV2Params) (CommandV2, error) {
	const method = "imbot.v2.Command.register"
	f := params{"command": p.Command, "common": p.Common, "hidden": p.Hidden, "extranetSupport": p.ExtranetSupport}
	if len(p.Title) > 0 {
		f["title"] = langTexts(p.Title)
	}
	if len(p.Params) > 0 {
		f["params"] = langTexts(p.Params)
	}
	raw, err := c.call(ctx, method, params{"botId": botID, "fields": f}, idempotent)
	if err != nil {
		return CommandV2{}, fmt.Errorf("register command %q of bot %d: %w", p.Command, botID, err)
	}
	cmd, err := decodeCommandV2Result(raw)
	if err != nil {
		return CommandV2{}, fmt.Errorf("register command %q of bot %d: %w", p.Command, botID, decodeError(method, err))
	}
	return cmd, nil
}

// CommandUpdateV2 calls imbot.v2.Command.update with the whole desired state: every flag, the
// titles and params of p, and null for each language in removeLanguages (a language that is
// not sent is left as it is, and only the portal's language can be read back, so the caller
// must remember which languages it sent before). Command is not sent. Repeating the same update
// is harmless, so it is retried after a lost answer.
func (c *Client) CommandUpdateV2(ctx context.Context, botID, commandID int, p CommandV2Params, removeLanguages []string) error {
	const method = "imbot.v2.Command.update"
	f := params{"common": p.Common, "hidden": p.Hidden, "extranetSupport": p.ExtranetSupport}
	title := map[string]any{}
	var par map[string]any
	for lang, t := range p.Title {
		title[lang] = t
	}
	for lang, t := range p.Params {
		if par == nil {
			par = map[string]any{}
		}
		par[lang] = t
	}
	for _, lang := range removeLanguages {
		if _, keep := p.Title[lang]; keep {
			continue
		}
		title[lang] = nil // removes the language
	}
	if len(title) > 0 {
		f["title"] = title
	}
	if par != nil {
		f["params"] = par
	}
	raw, err := c.call(ctx, method, params{"botId": botID, "commandId": commandID, "fields": f}, idempotent)
	if err != nil {
		return fmt.Errorf("update command %d of bot %d: %w", commandID, botID, err)
	}
	if _, err := decodeCommandV2Result(raw); err != nil {
		return fmt.Errorf("update command %d of bot %d: %w", commandID, botID, decodeError(method, err))
	}
	return nil
}

// CommandUnregisterV2 calls imbot.v2.Command.unregister. COMMAND_NOT_FOUND (IsGone) means the
// command is gone (or not this application's).
func (c *Client) CommandUnregisterV2(ctx context.Context, botID, commandID int) error {
	const method = "imbot.v2.Command.unregister"
	raw, err := c.call(ctx, method, params{"botId": botID, "commandId": commandID}, idempotent)
	if err != nil {
		return fmt.Errorf("unregister command %d of bot %d: %w", commandID, botID, err)
	}
	if err := decodeV2True(raw); err != nil {
		return fmt.Errorf("unregister command %d of bot %d: %w", commandID, botID, decodeError(method, err))
	}
	return nil
}

// CommandListV2 calls imbot.v2.Command.list for one bot (commands registered through either
// API).
func (c *Client) CommandListV2(ctx context.Context, botID int) ([]CommandV2, error) {
	const method = "imbot.v2.Command.list"
	raw, err := c.call(ctx, method, commandListParams(botID), idempotent)
	if err != nil {
		return nil, fmt.Errorf("list the commands of bot %d: %w", botID, err)
	}
	cmds, err := decodeCommandV2List(raw)
	if err != nil {
		return nil, fmt.Errorf("list the commands of bot %d: %w", botID, decodeError(method, err))
	}
	return cmds, nil
}

func commandListParams(botID int) params { return params{"botId": botID} }

// CommandListV2Command is imbot.v2.Command.list for botID as a batch command.
func CommandListV2Command(key string, botID int) BatchCommand {
	return BatchCommand{Key: key, Method: "imbot.v2.Command.list", Params: commandListParams(botID)}
}

// CommandsV2 decodes the result of a CommandListV2Command.
func (r BatchResult) CommandsV2(key string) ([]CommandV2, error) {
	if err := r.Err(key); err != nil {
		return nil, err
	}
	cmds, err := decodeCommandV2List(r.Results[key])
	if err != nil {
		return nil, decodeError("imbot.v2.Command.list", err)
	}
	return cmds, nil
}

// BotCommands is one bot's answer to Command.list in ListCommandsV2: its commands, or Err when
// that bot's list failed (BOT_NOT_FOUND for a bot that is gone...).
type BotCommands struct {
	Commands []CommandV2
	Err      error
}

// v2BatchRefused remembers the portals (by host) whose batch refused imbot.v2 commands, so that
// later drift checks go straight to single calls. Whether Bitrix runs imbot.v2 methods inside
// batch is not documented; the client assumes it does and falls back when it does not.
var v2BatchRefused sync.Map

// ListCommandsV2 reads the commands of many bots with as few requests as the portal allows:
// Command.list of up to 50 bots per batch. A portal whose batch does not run imbot.v2 methods
// (the command comes back ERROR_METHOD_NOT_FOUND or ERROR_BATCH_METHOD_NOT_ALLOWED) is asked one
// bot at a time instead, and remembered. One bot's failure is in its BotCommands.Err; the
// returned error is for a request that failed as a whole (the bots read before it are still
// returned).
func (c *Client) ListCommandsV2(ctx context.Context, botIDs []int) (map[int]BotCommands, error) {
	ids := uniqueSorted(botIDs)
	out := make(map[int]BotCommands, len(ids))
	host := c.hostKey()
	if _, refused := v2BatchRefused.Load(host); !refused && len(ids) > 1 {
		var single []int
		for start := 0; start < len(ids); start += MaxBatchCommands {
			part := ids[start:min(start+MaxBatchCommands, len(ids))]
			if _, refused := v2BatchRefused.Load(host); refused {
				single = append(single, part...) // an earlier batch of this read was refused
				continue
			}
			cmds := make([]BatchCommand, 0, len(part))
			for _, id := range part {
				cmds = append(cmds, CommandListV2Command("c"+strconv.Itoa(id), id))
			}
			res, err := c.Batch(ctx, cmds, false)
			if err != nil {
				return out, err
			}
			for _, id := range part {
				list, err := res.CommandsV2("c" + strconv.Itoa(id))
				if e, ok := asError(err); ok && (e.Is(ErrMethodNotFound) || e.Is(ErrBatchMethodNotAllowed)) {
					v2BatchRefused.Store(host, true)
					single = append(single, id)
					continue
				}
				out[id] = BotCommands{Commands: list, Err: err}
			}
		}
		ids = single
	}
	for _, id := range ids {
		list, err := c.CommandListV2(ctx, id)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			return out, err // the context ended
		}
		out[id] = BotCommands{Commands: list, Err: err}
	}
	return out, nil
}

func (c *Client) hostKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Host
}

func uniqueSorted(ids []int) []int {
	seen := make(map[int]bool, len(ids))
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Ints(out)
	return out
}

func langTexts(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type rawCommandV2 struct {
	ID              flexInt  `json:"id"`
	BotID           flexInt  `json:"botId"`
	Command         string   `json:"command"`
	Title           string   `json:"title"`
	Params          string   `json:"params"`
	Common          flexBool `json:"common"`
	Hidden          flexBool `json:"hidden"`
	ExtranetSupport flexBool `json:"extranetSupport"`
}

func (r rawCommandV2) command() CommandV2 {
	return CommandV2{
		ID: int(r.ID), BotID: int(r.BotID), Command: strings.TrimPrefix(r.Command, "/"),
		Title: r.Title, Params: r.Params, Common: bool(r.Common), Hidden: bool(r.Hidden),
		ExtranetSupport: bool(r.ExtranetSupport),
	}
}

func decodeCommandV2Result(raw json.RawMessage) (CommandV2, error) {
	var v struct {
		Command *rawCommandV2 `json:"command"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return CommandV2{}, err
	}
	if v.Command == nil || v.Command.ID <= 0 {
		return CommandV2{}, errors.New("no command in the result")
	}
	return v.Command.command(), nil
}

func decodeCommandV2List(raw json.RawMessage) ([]CommandV2, error) {
	var v struct {
		Commands json.RawMessage `json:"commands"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	out := []CommandV2{}
	if isNull(v.Commands) || isEmptyList(v.Commands) {
		return out, nil
	}
	var list []rawCommandV2
	if err := json.Unmarshal(v.Commands, &list); err != nil {
		// An empty PHP array keyed by id may come back as an object.
		var m map[string]rawCommandV2
		if json.Unmarshal(v.Commands, &m) != nil {
			return nil, err
		}
		for _, r := range m {
			list = append(list, r)
		}
	}
	for _, r := range list {
		out = append(out, r.command())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
