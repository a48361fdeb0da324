package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// simStateV2 is the part of /_sim/state the v2 tests read.
type simStateV2 struct {
	Bitrix struct {
		V2   bool `json:"v2"`
		Bots []struct {
			ID         int    `json:"id"`
			Code       string `json:"code"`
			API        string `json:"api"`
			EventMode  string `json:"event_mode"`
			WebhookURL string `json:"webhook_url"`
		} `json:"bots"`
		Commands []struct {
			BotID   int               `json:"bot_id"`
			Command string            `json:"command"`
			API     string            `json:"api"`
			Titles  map[string]string `json:"titles"`
			Handler string            `json:"handler"`
		} `json:"commands"`
		EventGetCalls int `json:"event_get_calls"`
	} `json:"bitrix"`
}

func TestStateShowsBotAPIsAndCommands(t *testing.T) {
	const clientID = "v2clientsecret"
	base, hc, dir := startSim(t, "--webhook", "1/hooksecret")
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := bitrix.New(bitrix.WithWebhook(base+"/rest/1/hooksecret/", clientID), bitrix.WithCABundle(caPEM))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v1, err := c.Register(ctx, bitrix.BotParams{Code: "legacy", EventHandler: "https://bots.example.com/v1", Properties: bitrix.BotProperties{Name: "Legacy"}})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := c.RegisterV2(ctx, bitrix.BotV2Params{Code: "hook", EventMode: bitrix.EventModeWebhook,
		WebhookURL: "https://bots.example.com/v2?key=urlsecret", Properties: bitrix.BotV2Properties{Name: "Hook"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterV2(ctx, bitrix.BotV2Params{Code: "poll", Properties: bitrix.BotV2Properties{Name: "Poll"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommandRegister(ctx, bitrix.CommandParams{BotID: v1, Command: "help", EventHandler: "https://bots.example.com/cmd",
		Lang: []bitrix.CommandLang{{LanguageID: "en", Title: "Help"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommandRegisterV2(ctx, hook.ID, bitrix.CommandV2Params{Command: "status", Title: map[string]string{"en": "Status", "de": "Status"}}); err != nil {
		t.Fatal(err)
	}

	resp, err := hc.Get(base + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st simStateV2
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("state: %v: %s", err, body)
	}
	bx := st.Bitrix
	if !bx.V2 || len(bx.Bots) != 3 || bx.EventGetCalls != 0 {
		t.Fatalf("state = %s", body)
	}
	want := map[string][3]string{
		"legacy": {"v1", "", ""},
		"hook":   {"v2", "webhook", "https://bots.example.com/v2"},
		"poll":   {"v2", "fetch", ""},
	}
	for _, b := range bx.Bots {
		if got := [3]string{b.API, b.EventMode, b.WebhookURL}; got != want[b.Code] {
			t.Errorf("bot %s: api, event mode, URL = %v, want %v", b.Code, got, want[b.Code])
		}
	}
	if len(bx.Commands) != 2 || bx.Commands[0].API != "v1" || bx.Commands[0].Handler != "https://bots.example.com/cmd" ||
		bx.Commands[1].API != "v2" || bx.Commands[1].BotID != hook.ID || len(bx.Commands[1].Titles) != 2 {
		t.Fatalf("commands = %+v", bx.Commands)
	}
	for _, secret := range []string{"hooksecret", "urlsecret", clientID} {
		if strings.Contains(string(body), secret) {
			t.Errorf("state leaks %q", secret)
		}
	}
}

func TestPortalWithoutV2(t *testing.T) {
	base, hc, dir := startSim(t, "--no-v2")
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := bitrix.New(bitrix.WithWebhook(base+"/rest/1/b24simwebhook/", "ci"), bitrix.WithCABundle(caPEM))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := c.Revision(context.Background())
	if err != nil || rev.HasV2() {
		t.Fatalf("Revision = %+v, %v; want no v2", rev, err)
	}
	resp, err := hc.Get(base + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st simStateV2
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Bitrix.V2 {
		t.Fatalf("state v2 = %v, err %v", st.Bitrix.V2, err)
	}
}

func TestParseV2Flags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(c config) bool
	}{
		{name: "defaults: v2 on, 100 v2 bots, 503, en", check: func(c config) bool {
			return !c.noV2 && c.maxBotsV2 == 100 && c.rateLimitStatus == 503 && c.portalLanguage == "en"
		}},
		{name: "a portal without v2 answering 429", args: []string{"--no-v2", "--rate-limit-status", "429", "--portal-language", "de"}, check: func(c config) bool {
			return c.noV2 && c.rateLimitStatus == 429 && c.portalLanguage == "de"
		}},
		{name: "a rate-limit status other than 503 or 429 is refused", args: []string{"--rate-limit-status", "500"}, wantErr: true},
		{name: "a v2 bot limit below 1 is refused", args: []string{"--max-bots-v2", "0"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}
