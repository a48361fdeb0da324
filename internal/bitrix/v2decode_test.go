package bitrix

import (
	"encoding/json"
	"testing"
)

// TestDecodeV2Shapes pins the answer shapes the v2 decoders accept beyond the documented ones:
// flags as Y/N, ids as strings, an empty PHP array where a list is documented.
func TestDecodeV2Shapes(t *testing.T) {
	t.Run("unregister: {result: true} and a bare true are success, false is not", func(t *testing.T) {
		for raw, ok := range map[string]bool{`{"result":true}`: true, `true`: true, `{"result":"Y"}`: true, `{"result":false}`: false, `false`: false} {
			if err := decodeV2True(json.RawMessage(raw)); (err == nil) != ok {
				t.Errorf("%s: err %v", raw, err)
			}
		}
	})
	t.Run("bot list: string ids, Y/N flags, users joined by id, hasNextPage as Y", func(t *testing.T) {
		raw := `{"bots":[{"id":"7","code":"a","type":"bot","isHidden":"Y","eventMode":"webhook","backgroundId":null}],
			"users":[{"id":7,"name":"A B","firstName":"A","color":"#df532d"}],"hasNextPage":"Y"}`
		page, err := decodeBotV2List(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		b := page.bots[0]
		if !page.hasNext || b.ID != 7 || !b.Hidden || !b.Full || b.EventMode != "webhook" || b.BackgroundID != "" || b.User.FirstName != "A" || b.User.Color != "#df532d" {
			t.Fatalf("page %+v", page)
		}
	})
	t.Run("bot list: null or [] lists are empty", func(t *testing.T) {
		for _, raw := range []string{`{"bots":[],"users":[],"hasNextPage":false}`, `{"bots":null}`, `{}`} {
			page, err := decodeBotV2List(json.RawMessage(raw))
			if err != nil || len(page.bots) != 0 || page.hasNext {
				t.Errorf("%s: %+v %v", raw, page, err)
			}
		}
	})
	t.Run("bot answer: the brief form is not Full; no bot is an error", func(t *testing.T) {
		b, err := decodeBotV2Result(json.RawMessage(`{"bot":{"id":3,"code":"x","type":"bot","isHidden":false}}`))
		if err != nil || b.Full {
			t.Fatalf("%+v %v", b, err)
		}
		if _, err := decodeBotV2Result(json.RawMessage(`{"users":[]}`)); err == nil {
			t.Fatal("an answer without a bot decoded")
		}
	})
	t.Run("commands: the leading slash is dropped; [] and an object keyed by id both decode", func(t *testing.T) {
		for raw, want := range map[string]int{
			`{"commands":[]}`: 0,
			`{"commands":[{"id":2,"botId":1,"command":"/help","title":"Help","common":"N"}]}`:              1,
			`{"commands":{"2":{"id":2,"botId":1,"command":"/help"},"1":{"id":1,"botId":1,"command":"a"}}}`: 2,
		} {
			cmds, err := decodeCommandV2List(json.RawMessage(raw))
			if err != nil || len(cmds) != want {
				t.Fatalf("%s: %+v %v", raw, cmds, err)
			}
			if want > 0 && cmds[len(cmds)-1].Command != "help" {
				t.Fatalf("%s: %+v", raw, cmds)
			}
		}
	})
}

func TestValidateBotToken(t *testing.T) {
	cases := []struct {
		name, token string
		wantCode    string
	}{
		{"40 ASCII characters are fine", "0123456789012345678901234567890123456789", ""},
		{"41 characters are too long", "01234567890123456789012345678901234567890", "BOT_TOKEN_INVALID_LENGTH"},
		{"40 non-ASCII characters count as 40", "ёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёё", ""},
		{"empty is not a token", "", "BOT_TOKEN_NOT_SPECIFIED"},
		{"spaces are not a token", "   ", "BOT_TOKEN_NOT_SPECIFIED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateBotToken(tc.token)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e, ok := asError(err)
			if !ok || e.Code != tc.wantCode || !IsTerminal(err) {
				t.Fatalf("got %v, want %s", err, tc.wantCode)
			}
		})
	}
}
