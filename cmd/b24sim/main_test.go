package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b24ops/b24-operator/internal/metabot"
)

func TestEnsureCerts(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()

	first, err := ensureCerts(dir, certSANs(), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.issued) != 2 {
		t.Errorf("first start issued %v, want the CA and the server certificate", first.issued)
	}

	cases := []struct {
		name       string
		sans       []string
		at         time.Time
		wantIssued []string
	}{
		{"a second start reuses both", certSANs(), now, nil},
		{"a new SAN gets a new server certificate from the same CA", certSANs("sim.example", "10.1.2.3"), now, []string{tlsCertFile}},
		{"a server certificate about to expire is replaced", certSANs("sim.example", "10.1.2.3"), now.Add(serverValidity), []string{tlsCertFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ensureCerts(dir, tc.sans, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.issued, ",") != strings.Join(tc.wantIssued, ",") {
				t.Errorf("issued %v, want %v", got.issued, tc.wantIssued)
			}
			if !bytes.Equal(got.caPEM, first.caPEM) {
				t.Error("the CA changed; users who trust ca.crt would break")
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(got.caPEM)
			for _, san := range tc.sans {
				if _, err := got.server.Leaf.Verify(x509.VerifyOptions{DNSName: san, Roots: pool, CurrentTime: tc.at}); err != nil {
					t.Errorf("server certificate does not verify for %s: %v", san, err)
				}
			}
		})
	}
	for _, f := range []string{caKeyFile, tlsKeyFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}
}

// startSim runs b24sim on a free port and returns its base URL, an HTTP client trusting its
// CA, and its cert dir. It stops when the test ends, checking for a clean shutdown.
func startSim(t *testing.T, extra ...string) (string, *http.Client, string) {
	t.Helper()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"--listen", "127.0.0.1:0", "--cert-dir", dir, "--ready-file", ready, "--quiet"}, extra...)
	go func() { done <- run(ctx, args, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("b24sim did not shut down")
		}
		if _, err := os.Stat(ready); !os.IsNotExist(err) {
			t.Errorf("ready file left behind: %v", err)
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	var base []byte
	for {
		var err error
		if base, err = os.ReadFile(ready); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("b24sim exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("b24sim never wrote its ready file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return strings.TrimSpace(string(base)), client, dir
}

func TestBothAPIsAnswerThroughTheCA(t *testing.T) {
	base, client, dir := startSim(t,
		"--webhook", "1/hooksecret",
		"--oauth-app", "local.app:appsecret",
		"--metabot-bot", "77=mbsecret")

	var creds credentials
	data, err := os.ReadFile(filepath.Join(dir, credentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &creds); err != nil {
		t.Fatal(err)
	}
	if creds.URL != base || len(creds.Bitrix.Webhooks) != 1 || len(creds.Bitrix.OAuthApps) != 1 || creds.Bitrix.OAuthApps[0].AccessToken == "" {
		t.Fatalf("credentials.json = %s", data)
	}

	t.Run("Bitrix24 answers a webhook call", func(t *testing.T) {
		resp, err := client.Get(creds.Bitrix.Webhooks[0].URL + "scope.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Result []string `json:"result"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Result) == 0 {
			t.Errorf("scope via webhook: status %d, result %v, err %v", resp.StatusCode, out.Result, err)
		}
	})

	t.Run("Bitrix24 answers an OAuth call with the issued token", func(t *testing.T) {
		resp, err := client.PostForm(base+"/rest/scope.json", url.Values{"auth": {creds.Bitrix.OAuthApps[0].AccessToken}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			t.Errorf("scope via OAuth: status %d: %s", resp.StatusCode, body)
		}
	})

	t.Run("Metabot accepts a job from the real client", func(t *testing.T) {
		caPEM, _ := os.ReadFile(creds.CAFile)
		c, err := metabot.New(creds.Metabot.URL, 77, "mbsecret", metabot.WithCABundle(caPEM))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Schedule(context.Background(), metabot.Job{Target: metabot.ScriptCode("digest"), LeadID: 5}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the state endpoint shows the job and no secret", func(t *testing.T) {
		resp, err := client.Get(base + "/_sim/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st struct {
			Metabot struct {
				Bots []int64 `json:"bots"`
				Jobs []struct {
					BotID      int64  `json:"bot_id"`
					ScriptCode string `json:"script_code"`
				} `json:"jobs"`
			} `json:"metabot"`
			Bitrix struct {
				Available bool `json:"available"`
			} `json:"bitrix"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("state is not JSON: %v: %s", err, body)
		}
		if len(st.Metabot.Jobs) != 1 || st.Metabot.Jobs[0].BotID != 77 || st.Metabot.Jobs[0].ScriptCode != "digest" || !st.Bitrix.Available {
			t.Errorf("state = %s", body)
		}
		for _, secret := range []string{"hooksecret", "appsecret", "mbsecret", creds.Bitrix.OAuthApps[0].AccessToken, creds.Bitrix.OAuthApps[0].RefreshToken} {
			if strings.Contains(string(body), secret) {
				t.Errorf("state leaks a secret (%d chars)", len(secret))
			}
		}
	})
}

func TestFailRateFailsAPIRequestsOnly(t *testing.T) {
	base, client, _ := startSim(t, "--fail-rate", "1")
	resp, err := client.Get(base + "/rest/1/b24simwebhook/scope.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("Bitrix24 call with --fail-rate 1: status %d, want 500", resp.StatusCode)
	}
	resp, err = client.Get(base + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("state with --fail-rate 1: status %d, want 200", resp.StatusCode)
	}
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(t *testing.T, c config)
	}{
		{name: "defaults give one webhook and one Metabot bot", check: func(t *testing.T, c config) {
			if len(c.webhooks) != 1 || c.webhooks[0] != (webhook{1, "b24simwebhook"}) || len(c.metabotBots) != 1 || c.metabotBots[0].id != 1 {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "repeated flags accumulate", args: []string{"--webhook", "1/a", "--webhook", "2/b", "--metabot-bot", "3=x", "--san", "h1", "--san", "h2"}, check: func(t *testing.T, c config) {
			if len(c.webhooks) != 2 || len(c.metabotBots) != 1 || c.metabotBots[0] != (metabotBot{3, "x"}) || len(c.sans) != 2 {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "a webhook without a code is refused", args: []string{"--webhook", "1"}, wantErr: true},
		{name: "an OAuth app without a secret is refused", args: []string{"--oauth-app", "id"}, wantErr: true},
		{name: "a Metabot bot without a token is refused", args: []string{"--metabot-bot", "1"}, wantErr: true},
		{name: "a fail rate above 1 is refused", args: []string{"--fail-rate", "1.5"}, wantErr: true},
		{name: "stray arguments are refused", args: []string{"extra"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestRedactPath(t *testing.T) {
	cases := map[string]string{
		"/rest/1/secretcode/imbot.register.json": "/rest/1/***/imbot.register.json",
		"/rest/imbot.register.json":              "/rest/imbot.register.json",
		"/api/v1/bots/1/jobs/schedule":           "/api/v1/bots/1/jobs/schedule",
	}
	for in, want := range cases {
		if got := redactPath(in); got != want {
			t.Errorf("redactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
