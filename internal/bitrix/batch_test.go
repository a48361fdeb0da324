package bitrix_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

func TestBatch(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e env, bot, chat int)
	}{
		{
			name: "drift reads decode per key with the single-call decoders, in one request",
			run: func(t *testing.T, e env, bot, chat int) {
				e.srv.ResetCalls()
				res, err := e.c.Batch(e.ctx, []bitrix.BatchCommand{
					bitrix.DialogGetCommand("d", bot, chat),
					bitrix.ChatUserListCommand("u", bot, chat),
					bitrix.ChatGetCommand("g", bot, "B24OPS", "team-a/incidents"),
					bitrix.ChatGetCommand("none", bot, "B24OPS", "missing"),
				}, false)
				mustNoErr(t, err)
				d, err := res.Dialog("d")
				mustNoErr(t, err)
				single, err := e.c.DialogGet(e.ctx, bot, chat)
				mustNoErr(t, err)
				if d != single {
					t.Fatalf("batch dialog %+v != single %+v", d, single)
				}
				members, err := res.UserList("u")
				mustNoErr(t, err)
				if !slices.Equal(members, []int{1, 2, bot}) {
					t.Fatalf("members = %v", members)
				}
				if id, found, err := res.ChatID("g"); err != nil || !found || id != chat {
					t.Fatalf("ChatID(g) = %d %v %v", id, found, err)
				}
				if _, found, err := res.ChatID("none"); err != nil || found {
					t.Fatalf("ChatID(none) = %v %v", found, err)
				}
				if n := e.srv.CallCount("batch"); n != 1 {
					t.Fatalf("%d batch requests, want 1", n)
				}
			},
		},
		{
			name: "partial failure: only the failed key is retried, never the whole batch",
			run: func(t *testing.T, e env, bot, chat int) {
				e.srv.InjectFault("imbot.chat.user.list", bitrixtest.FaultError(500, "INTERNAL_SERVER_ERROR", "boom"))
				cmds := []bitrix.BatchCommand{
					bitrix.DialogGetCommand("d", bot, chat),
					bitrix.ChatUserListCommand("u", bot, chat),
				}
				e.srv.ResetCalls()
				res, err := e.c.Batch(e.ctx, cmds, false)
				mustNoErr(t, err)
				if _, err := res.Dialog("d"); err != nil {
					t.Fatalf("d: %v", err)
				}
				_, err = res.UserList("u")
				wantCode(t, err, "INTERNAL_SERVER_ERROR")
				if !bitrix.IsRetryable(err) {
					t.Fatalf("per-key 500 should be retryable: %v", err)
				}
				failed := res.Failed(cmds)
				if len(failed) != 1 || failed[0].Key != "u" {
					t.Fatalf("Failed = %+v", failed)
				}
				res, err = e.c.Batch(e.ctx, failed, false)
				mustNoErr(t, err)
				if _, err := res.UserList("u"); err != nil {
					t.Fatalf("retry of u: %v", err)
				}
				if e.srv.CallCount("batch") != 2 || e.srv.CallCount("imbot.dialog.get") != 1 || e.srv.CallCount("imbot.chat.user.list") != 2 {
					t.Fatalf("calls: batch %d dialog %d users %d", e.srv.CallCount("batch"),
						e.srv.CallCount("imbot.dialog.get"), e.srv.CallCount("imbot.chat.user.list"))
				}
			},
		},
		{
			name: "halt stops at the first failure; later keys did not run (ErrNotExecuted)",
			run: func(t *testing.T, e env, bot, chat int) {
				cmds := []bitrix.BatchCommand{
					{Key: "a", Method: "imbot.chat.updateTitle", Params: map[string]any{"BOT_ID": bot, "CHAT_ID": chat, "TITLE": "Incidents"}},
					{Key: "b", Method: "imbot.chat.updateTitle", Params: map[string]any{"BOT_ID": bot, "CHAT_ID": chat, "TITLE": "New"}},
				}
				res, err := e.c.Batch(e.ctx, cmds, true)
				mustNoErr(t, err)
				wantCode(t, res.Err("a"), "WRONG_REQUEST")
				if !errors.Is(res.Err("b"), bitrix.ErrNotExecuted) {
					t.Fatalf("b: %v", res.Err("b"))
				}
				if ch, _ := e.srv.Chat(chat); ch.Title != "Incidents" {
					t.Fatalf("b ran after halt: %+v", ch)
				}
				if len(res.Results) != 0 {
					t.Fatalf("results of an all-failed batch (sent as []) = %v", res.Results)
				}
			},
		},
		{
			name: "PHP-bracket params: nested FIELDS, lists and flags reach the portal",
			run: func(t *testing.T, e env, bot, chat int) {
				res, err := e.c.Batch(e.ctx, []bitrix.BatchCommand{
					{Key: "upd", Method: "imbot.update", Params: map[string]any{
						"BOT_ID": bot, "FIELDS": map[string]any{"PROPERTIES": map[string]any{"NAME": "Via batch & co"}}}},
					{Key: "add", Method: "imbot.chat.user.add", Params: map[string]any{"BOT_ID": bot, "CHAT_ID": chat, "USERS": []int{7, 8}}},
				}, false)
				mustNoErr(t, err)
				mustNoErr(t, res.Err("upd"))
				mustNoErr(t, res.Err("add"))
				if b := e.srv.Bots()[0]; b.Properties.Name != "Via batch & co" {
					t.Fatalf("bot = %+v", b)
				}
				if ch, _ := e.srv.Chat(chat); !slices.Contains(ch.Members, 8) {
					t.Fatalf("chat = %+v", ch)
				}
			},
		},
		{
			name: "more than 50 commands fail before anything is sent",
			run: func(t *testing.T, e env, bot, chat int) {
				cmds := make([]bitrix.BatchCommand, 51)
				for i := range cmds {
					cmds[i] = bitrix.DialogGetCommand(fmt.Sprint("k", i), bot, chat)
				}
				e.srv.ResetCalls()
				_, err := e.c.Batch(e.ctx, cmds, false)
				wantCode(t, err, "ERROR_BATCH_LENGTH_EXCEEDED")
				if n := len(e.srv.Calls()); n != 0 {
					t.Fatalf("%d calls sent", n)
				}
			},
		},
		{
			name: "a batch whose connection dropped is not repeated: ambiguous",
			run: func(t *testing.T, e env, bot, chat int) {
				e.srv.InjectFault("batch", bitrixtest.FaultDrop())
				e.srv.ResetCalls()
				_, err := e.c.Batch(e.ctx, []bitrix.BatchCommand{bitrix.DialogGetCommand("d", bot, chat)}, false)
				if !bitrix.IsAmbiguous(err) {
					t.Fatalf("want ambiguous, got %v", err)
				}
				if n := e.srv.CallCount("batch"); n != 1 {
					t.Fatalf("batch sent %d times", n)
				}
			},
		},
		{
			name: "a batch refused by the rate limit never ran and is repeated",
			run: func(t *testing.T, e env, bot, chat int) {
				e.srv.InjectFault("batch", bitrixtest.FaultError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
				res, err := e.c.Batch(e.ctx, []bitrix.BatchCommand{bitrix.DialogGetCommand("d", bot, chat)}, false)
				mustNoErr(t, err)
				mustNoErr(t, res.Err("d"))
			},
		},
		{
			name: "ReadChats reads many chats, 25 per batch, and reports a gone chat per chat",
			run: func(t *testing.T, e env, bot, chat int) {
				refs := []bitrix.ChatRef{{BotID: bot, ChatID: chat}}
				for i := range 29 {
					refs = append(refs, bitrix.ChatRef{BotID: bot, ChatID: mustChat(t, e, bot, fmt.Sprint("c", i), 1)})
				}
				refs = append(refs, bitrix.ChatRef{BotID: bot, ChatID: 9999})
				e.srv.ResetCalls()
				got, err := e.c.ReadChats(e.ctx, refs)
				mustNoErr(t, err)
				if e.srv.CallCount("batch") != 2 || len(got) != 31 {
					t.Fatalf("%d batches, %d chats", e.srv.CallCount("batch"), len(got))
				}
				if st := got[chat]; st.Err != nil || st.Dialog.Name != "Incidents" || !slices.Equal(st.Members, []int{1, 2, bot}) {
					t.Fatalf("chat %d = %+v", chat, st)
				}
				if st := got[9999]; !errors.Is(st.Err, bitrix.ErrAccessError) {
					t.Fatalf("missing chat = %+v", st)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			bot := mustRegister(t, e, "support")
			tc.run(t, e, bot, mustChat(t, e, bot, "team-a/incidents", 1, 2))
		})
	}
}
