package bitrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// MaxBatchCommands is the most commands Bitrix accepts in one batch.
const MaxBatchCommands = 50

// BatchCommand is one command of a batch: Method with Params, results reported under Key.
// Params follow the same rules as the single calls (UPPER nested keys; bools become Y/N,
// []byte base64). A webhook client adds CLIENT_ID to imbot.* commands and botToken to
// imbot.v2.* commands.
type BatchCommand struct {
	Key    string
	Method string
	Params map[string]any
}

// BatchResult holds the per-key outcome of a batch. A key is in Results, in Errors, or in
// neither when a halting batch stopped before running it (Err reports ErrNotExecuted).
type BatchResult struct {
	Results map[string]json.RawMessage
	Errors  map[string]*Error

	resetAt map[string]time.Time // per-key time.operating_reset_at from result_time
}

// Err returns the key's error: its *Error, ErrNotExecuted (wrapped) when the key did not run,
// or nil when it succeeded.
func (r BatchResult) Err(key string) error {
	if e, ok := r.Errors[key]; ok {
		return e
	}
	if _, ok := r.Results[key]; ok {
		return nil
	}
	return &Error{Code: codeNotExecuted, Description: fmt.Sprintf("batch command %q did not run", key)}
}

// Failed returns the keys of cmds that did not succeed (failed or did not run), in the order
// of cmds: the ones to retry, never the whole batch.
func (r BatchResult) Failed(cmds []BatchCommand) []BatchCommand {
	var out []BatchCommand
	for _, c := range cmds {
		if r.Err(c.Key) != nil {
			out = append(out, c)
		}
	}
	return out
}

// Decode unmarshals the key's result into v, or returns the key's error.
func (r BatchResult) Decode(key string, v any) error {
	if err := r.Err(key); err != nil {
		return err
	}
	return json.Unmarshal(r.Results[key], v)
}

// Batch runs up to 50 commands in one request (one request against the portal's bucket).
// halt stops at the first failing command. Bitrix answers a batch with HTTP 200 and reports
// failures per key, so a batch is never repeated by the client once it may have run: retry
// only the keys in Failed. (A batch refused with QUERY_LIMIT_EXCEEDED never ran and is
// repeated.) More than 50 commands fail with ErrBatchLengthExceeded before anything is sent.
func (c *Client) Batch(ctx context.Context, cmds []BatchCommand, halt bool) (BatchResult, error) {
	if len(cmds) == 0 {
		return BatchResult{Results: map[string]json.RawMessage{}, Errors: map[string]*Error{}}, nil
	}
	if len(cmds) > MaxBatchCommands {
		return BatchResult{}, &Error{Code: ErrBatchLengthExceeded.Code, Method: "batch",
			Description: fmt.Sprintf("%d commands, at most %d per batch", len(cmds), MaxBatchCommands)}
	}
	cmd := make(map[string]string, len(cmds))
	methods := make(map[string]string, len(cmds))
	for _, bc := range cmds {
		if bc.Key == "" || bc.Method == "" {
			return BatchResult{}, errors.New("bitrix24 batch: every command needs a key and a method")
		}
		if strings.EqualFold(bc.Method, "batch") {
			return BatchResult{}, &Error{Code: ErrBatchMethodNotAllowed.Code, Method: "batch", Description: "a batch cannot contain a batch"}
		}
		if _, dup := cmd[bc.Key]; dup {
			return BatchResult{}, fmt.Errorf("bitrix24 batch: duplicate key %q", bc.Key)
		}
		ps := make(map[string]any, len(bc.Params)+1)
		for k, v := range bc.Params {
			ps[k] = v
		}
		c.addIdentity(bc.Method, ps)
		q, err := encodePHPQuery(ps)
		if err != nil {
			return BatchResult{}, fmt.Errorf("bitrix24 batch: command %q: %w", bc.Key, err)
		}
		cmd[bc.Key] = bc.Method + "?" + q
		methods[bc.Key] = bc.Method
	}
	haltFlag := 0
	if halt {
		haltFlag = 1
	}
	raw, err := c.call(ctx, "batch", params{"halt": haltFlag, "cmd": cmd}, notIdempotent)
	if err != nil {
		return BatchResult{}, err
	}
	res, err := decodeBatch(raw, methods)
	if err != nil {
		return BatchResult{}, decodeError("batch", err)
	}
	for _, e := range res.Errors {
		c.sanitizeRemote(e)
		if e.Is(ErrOperationTimeLimit) && e.Method != "" {
			// The limit is per method, batch or not: pause single calls of it too.
			e.RetryAfter = c.pause(e.Method, res.resetAt[e.key])
		}
	}
	return res, nil
}

// decodeBatch reads result.result and result.result_error; both come back as [] when empty.
func decodeBatch(raw json.RawMessage, methods map[string]string) (BatchResult, error) {
	var v struct {
		Result      json.RawMessage `json:"result"`
		ResultError json.RawMessage `json:"result_error"`
		ResultTime  json.RawMessage `json:"result_time"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return BatchResult{}, err
	}
	out := BatchResult{Results: map[string]json.RawMessage{}, Errors: map[string]*Error{}}
	if !isEmptyList(v.Result) && !isNull(v.Result) {
		if err := json.Unmarshal(v.Result, &out.Results); err != nil {
			// Commands keyed 0, 1, 2... come back as a JSON list.
			var list []json.RawMessage
			if json.Unmarshal(v.Result, &list) != nil {
				return BatchResult{}, err
			}
			for i, r := range list {
				out.Results[fmt.Sprint(i)] = r
			}
		}
	}
	if !isEmptyList(v.ResultError) && !isNull(v.ResultError) {
		var errs map[string]struct {
			Error            json.RawMessage `json:"error"`
			ErrorDescription json.RawMessage `json:"error_description"`
		}
		if err := json.Unmarshal(v.ResultError, &errs); err != nil {
			return BatchResult{}, err
		}
		for k, e := range errs {
			out.Errors[k] = &Error{Code: jsonString(e.Error), Description: jsonString(e.ErrorDescription), Method: methods[k], key: k}
			delete(out.Results, k)
		}
	}
	var times map[string]json.RawMessage
	if !isEmptyList(v.ResultTime) && json.Unmarshal(v.ResultTime, &times) == nil {
		out.resetAt = make(map[string]time.Time, len(times))
		for k, raw := range times {
			out.resetAt[k] = decodeTime(raw).OperatingResetAt
		}
	}
	return out, nil
}

// Typed batch commands for the reads a controller makes when it checks many chats for drift.
// Their results decode with the same decoders as the single calls.

// DialogGetCommand is imbot.dialog.get for chatID as a batch command.
func DialogGetCommand(key string, botID, chatID int) BatchCommand {
	return BatchCommand{Key: key, Method: "imbot.dialog.get", Params: dialogGetParams(botID, chatID)}
}

// ChatUserListCommand is imbot.chat.user.list for chatID as a batch command.
func ChatUserListCommand(key string, botID, chatID int) BatchCommand {
	return BatchCommand{Key: key, Method: "imbot.chat.user.list", Params: chatUserListParams(botID, chatID)}
}

// ChatGetCommand is imbot.chat.get for an entity as a batch command.
func ChatGetCommand(key string, botID int, entityType, entityID string) BatchCommand {
	return BatchCommand{Key: key, Method: "imbot.chat.get", Params: chatGetParams(botID, entityType, entityID)}
}

// Dialog decodes the result of a DialogGetCommand.
func (r BatchResult) Dialog(key string) (Dialog, error) {
	if err := r.Err(key); err != nil {
		return Dialog{}, err
	}
	d, err := decodeDialog(r.Results[key])
	if err != nil {
		return Dialog{}, decodeError("imbot.dialog.get", err)
	}
	return d, nil
}

// UserList decodes the result of a ChatUserListCommand.
func (r BatchResult) UserList(key string) ([]int, error) {
	if err := r.Err(key); err != nil {
		return nil, err
	}
	ids, err := decodeUserList(r.Results[key])
	if err != nil {
		return nil, decodeError("imbot.chat.user.list", err)
	}
	return ids, nil
}

// ChatID decodes the result of a ChatGetCommand.
func (r BatchResult) ChatID(key string) (int, bool, error) {
	if err := r.Err(key); err != nil {
		return 0, false, err
	}
	id, found, err := decodeChatGet(r.Results[key])
	if err != nil {
		return 0, false, decodeError("imbot.chat.get", err)
	}
	return id, found, nil
}

// ChatRef names a chat and the bot that reads it.
type ChatRef struct {
	BotID  int
	ChatID int
}

// ChatState is a chat as read for a drift check. Err is set when either read failed
// (the chat is then unknown, not empty).
type ChatState struct {
	Dialog  Dialog
	Members []int
	Err     error
}

// ReadChats reads dialog and members of many chats with as few requests as possible: two
// commands per chat, 25 chats per batch. A failure of one chat's commands is reported in its
// ChatState.Err; the returned error is for a batch that failed as a whole (the chats of the
// batches that did run are still returned).
func (c *Client) ReadChats(ctx context.Context, chats []ChatRef) (map[int]ChatState, error) {
	out := make(map[int]ChatState, len(chats))
	seen := make(map[int]bool, len(chats))
	uniq := make([]ChatRef, 0, len(chats))
	for _, ch := range chats {
		if !seen[ch.ChatID] {
			seen[ch.ChatID] = true
			uniq = append(uniq, ch)
		}
	}
	chats = uniq
	const perBatch = MaxBatchCommands / 2
	for start := 0; start < len(chats); start += perBatch {
		part := chats[start:min(start+perBatch, len(chats))]
		cmds := make([]BatchCommand, 0, 2*len(part))
		for _, ch := range part {
			cmds = append(cmds,
				DialogGetCommand(fmt.Sprintf("d%d", ch.ChatID), ch.BotID, ch.ChatID),
				ChatUserListCommand(fmt.Sprintf("u%d", ch.ChatID), ch.BotID, ch.ChatID))
		}
		res, err := c.Batch(ctx, cmds, false)
		if err != nil {
			return out, err
		}
		for _, ch := range part {
			var st ChatState
			d, derr := res.Dialog(fmt.Sprintf("d%d", ch.ChatID))
			m, merr := res.UserList(fmt.Sprintf("u%d", ch.ChatID))
			st.Dialog, st.Members, st.Err = d, m, errors.Join(derr, merr)
			sort.Ints(st.Members)
			out[ch.ChatID] = st
		}
	}
	return out, nil
}
