package plugin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

const (
	appClientID   = "acme-bots"
	otherClientID = "other-team"
	handler       = "https://bots.acme.ru/b24/events"
)

// readMethods are the only calls an import may make: it must not change the portal.
var readMethods = map[string]bool{
	"imbot.v2.Revision.get": true,
	"imbot.v2.Bot.list":     true,
	"imbot.v2.Command.list": true,
	"imbot.bot.list":        true,
	"batch":                 true, // its commands are logged (and checked) one by one
}

type portalSetup func(t *testing.T, ctx context.Context, srv *bitrixtest.Server, mine, other *bitrix.Client)

// v2Bots: two bots of this application whose codes make the same name, one with commands, one
// in fetch mode, and a bot of another application that must not be imported.
func v2Bots(t *testing.T, ctx context.Context, _ *bitrixtest.Server, mine, other *bitrix.Client) {
	support := must(mine.RegisterV2(ctx, bitrix.BotV2Params{Code: "support", EventMode: bitrix.EventModeWebhook, WebhookURL: handler,
		Properties: bitrix.BotV2Properties{Name: "Support", LastName: "Bot", Color: "GREEN", WorkPosition: "First line"}}))
	must(mine.RegisterV2(ctx, bitrix.BotV2Params{Code: "night_shift", EventMode: bitrix.EventModeFetch, Properties: bitrix.BotV2Properties{Name: "Night"}}))
	must(mine.RegisterV2(ctx, bitrix.BotV2Params{Code: "night-shift", EventMode: bitrix.EventModeFetch, Properties: bitrix.BotV2Properties{Name: "Night 2"}}))
	must(other.RegisterV2(ctx, bitrix.BotV2Params{Code: "theirs", EventMode: bitrix.EventModeFetch, Properties: bitrix.BotV2Properties{Name: "Theirs"}}))
	for _, c := range []bitrix.CommandV2Params{
		{Command: "status", Title: map[string]string{"en": "Status"}, Common: true},
		{Command: "help", Title: map[string]string{"en": "Help"}, Params: map[string]string{"en": "[topic]"}},
	} {
		must(mine.CommandRegisterV2(ctx, support.ID, c))
	}
}

func v1Bots(t *testing.T, ctx context.Context, _ *bitrixtest.Server, mine, _ *bitrix.Client) {
	for _, code := range []string{"support", "lines"} {
		must(mine.Register(ctx, bitrix.BotParams{Code: code, EventHandler: handler,
			Openline: code == "lines", Properties: bitrix.BotProperties{Name: strings.ToUpper(code[:1]) + code[1:]}}))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cases := []struct {
		name  string
		sim   []bitrixtest.Option
		setup portalSetup
		// args are the import flags; WEBHOOK and CAFILE are replaced, and --portal reads
		// the Portal the test creates in namespace import-cluster.
		args     []string
		wantCode int
	}{
		{name: "import_v2_yaml", setup: v2Bots, args: []string{"--webhook-url", "WEBHOOK", "--client-id", appClientID, "--ca-file", "CAFILE", "--portal-ref", "acme", "-n", "team-a"}},
		{name: "import_v2_json", setup: v2Bots, args: []string{"--webhook-url", "WEBHOOK", "--client-id", appClientID, "--ca-file", "CAFILE", "--portal-ref", "acme", "-o", "json"}},
		{name: "import_v1_yaml", sim: []bitrixtest.Option{bitrixtest.WithoutV2()}, setup: v1Bots, args: []string{"--webhook-url", "WEBHOOK", "--client-id", appClientID, "--ca-file", "CAFILE", "--portal-ref", "acme", "-n", "team-a"}},
		{name: "import_from_cluster", setup: v2Bots, args: []string{"--portal", "import-cluster/acme"}},
		// The plugin reads the Secret as the user: without the right to, the import stops
		// before any call to the portal.
		{name: "import_from_cluster_forbidden_secret", setup: v2Bots, args: []string{"AS-VIEWER", "--portal", "import-cluster/acme"}, wantCode: 1},
		{name: "import_no_source", args: []string{}, wantCode: 1},
		{name: "import_both_sources", args: []string{"--portal", "x/y", "--webhook-url", "WEBHOOK", "--client-id", appClientID}, wantCode: 1},
	}
	clusterNS := namespace(t, ctx, "import-cluster")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := bitrixtest.NewServer(append([]bitrixtest.Option{bitrixtest.WithoutRateLimit()}, tc.sim...)...)
			defer srv.Close()
			hook := srv.AddWebhook(1, "s3cr3tw3bh00k")
			if tc.setup != nil {
				client := func(id string) *bitrix.Client {
					return must(bitrix.New(bitrix.WithWebhook(hook, id), bitrix.WithCABundle(srv.CAPEM()), bitrix.WithRateLimit(1000, 1000)))
				}
				tc.setup(t, ctx, srv, client(appClientID), client(otherClientID))
			}
			caFile := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(caFile, srv.CAPEM(), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.name == "import_from_cluster" {
				apply(t, ctx, clusterNS, portalObjects(srv.URL, hook, string(srv.CAPEM())))
			}
			srv.ResetCalls()

			var args []string
			if len(tc.args) > 0 && tc.args[0] == "AS-VIEWER" {
				args, tc.args = []string{"AS-VIEWER"}, tc.args[1:]
			}
			args = append(args, "import")
			for _, a := range tc.args {
				args = append(args, strings.NewReplacer("WEBHOOK", hook, "CAFILE", caFile).Replace(a))
			}
			r := kubectlB24(t, ctx, args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; stdout: %s stderr: %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			for _, c := range srv.Calls() {
				if !readMethods[c.Method] {
					t.Errorf("import called %s: only reads are allowed", c.Method)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "s3cr3tw3bh00k") {
				t.Errorf("the webhook URL (a credential) is in the output")
			}
			if tc.wantCode != 0 && len(srv.Calls()) != 0 {
				t.Errorf("a refused import called the portal %d times", len(srv.Calls()))
			}
			if tc.wantCode == 0 {
				if len(srv.Calls()) == 0 {
					t.Errorf("import made no call at all")
				}
				assertParses(t, r.stdout)
			}
			golden(t, tc.name, strings.ReplaceAll(r.stdout+r.stderr, srv.URL, "https://PORTAL"))
		})
	}
}

// assertParses checks that every document is a b24ops.io object or a v1 List of them.
func assertParses(t *testing.T, out string) {
	t.Helper()
	for _, doc := range strings.Split(out, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, doc)
		}
		if m == nil {
			continue // only comments
		}
		if m["kind"] != "List" && m["apiVersion"] != "b24ops.io/v1alpha1" {
			t.Errorf("unexpected document %v", m)
		}
	}
}

func portalObjects(url, hook, ca string) string {
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(ca), "\n", "\n    ")
	return `
apiVersion: v1
kind: Secret
metadata: {name: acme-webhook, labels: {b24ops.io/credentials: "true"}}
stringData:
  webhookURL: ` + hook + `
---
apiVersion: v1
kind: ConfigMap
metadata: {name: portal-ca}
data:
  ca.crt: |
` + indented + `
---
apiVersion: b24ops.io/v1alpha1
kind: Portal
metadata: {name: acme}
spec:
  url: ` + url + `
  auth: {webhook: {clientId: ` + appClientID + `, secretRef: {name: acme-webhook}}}
  caBundle: {configMapKeyRef: {name: portal-ca, key: ca.crt}}
`
}
