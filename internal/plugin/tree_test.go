package plugin_test

import (
	"context"
	"testing"
)

const ready = `{type: Ready, status: "True", reason: Succeeded, message: ok, lastTransitionTime: "2026-12-01T08:00:00Z"}`

// treeObjects: a Portal with three bots (one with an app and a chat, one paused, one
// ObserveOnly and drifted), a ChatApp whose bot does not
// exist, and a Metabot with a cron job and a one-shot job.
const treeObjects = `
apiVersion: b24ops.io/v1alpha1
kind: Portal
metadata: {name: acme}
spec:
  url: https://acme.bitrix24.ru
  auth: {webhook: {clientId: acme-bots, secretRef: {name: acme-webhook}}}
status:
  applicationKey: acme.bitrix24.ru/acme-bots
  boundBots: 2
  conditions: [` + ready + `]
---
apiVersion: b24ops.io/v1alpha1
kind: ChatBot
metadata: {name: support}
spec:
  portalRef: {name: acme}
  code: support
  eventHandler: https://bots.acme.ru/b24/events
  properties: {name: Support}
status:
  botId: 39
  conditions: [` + ready + `]
---
apiVersion: b24ops.io/v1alpha1
kind: ChatBot
metadata: {name: alerts, annotations: {b24ops.io/paused: "true"}}
spec:
  portalRef: {name: acme}
  code: alerts
  eventHandler: https://bots.acme.ru/b24/events
  properties: {name: Alerts}
status:
  conditions: [{type: Ready, status: "False", reason: BotLimitExceeded, message: limit, lastTransitionTime: "2026-12-01T08:00:00Z"}]
---
apiVersion: b24ops.io/v1alpha1
kind: ChatBot
metadata: {name: legacy}
spec:
  portalRef: {name: acme}
  code: legacy
  api: V1
  managementPolicy: ObserveOnly
  deletionPolicy: Orphan
  properties: {name: Legacy}
status:
  botId: 40
  conditions:
  - ` + ready + `
  - {type: Synced, status: "False", reason: Drifted, message: "the remote ChatBot differs from the spec: properties.name (remote \"Old\")", lastTransitionTime: "2026-12-01T08:00:00Z"}
---
apiVersion: b24ops.io/v1alpha1
kind: ChatApp
metadata: {name: help-button}
spec:
  botRef: {name: support}
  code: help
  jsCommand: {method: Send, param: /help}
  translations: [{language: en, title: Help}]
status:
  appId: 13
  conditions: [` + ready + `]
---
apiVersion: b24ops.io/v1alpha1
kind: Chat
metadata: {name: incidents}
spec:
  botRef: {name: support}
  title: Incidents
status:
  chatId: 2725
  conditions: [` + ready + `]
---
apiVersion: b24ops.io/v1alpha1
kind: ChatApp
metadata: {name: stray}
spec:
  botRef: {name: gone}
  code: stray
  jsCommand: {method: Send, param: /stray}
  translations: [{language: en, title: Stray}]
---
apiVersion: b24ops.io/v1alpha1
kind: Metabot
metadata: {name: sales}
spec:
  botId: 1234
  tokenSecretRef: {name: metabot-token, key: token}
status:
  conditions: [` + ready + `]
---
apiVersion: b24ops.io/v1alpha1
kind: ScheduledJob
metadata: {name: monday-digest}
spec:
  metabotRef: {name: sales}
  script: {code: weekly_digest}
  schedule: "0 9 * * 1"
status:
  phase: Active
  nextScheduleTime: "2026-12-07T09:00:00Z"
  conditions: [` + ready + `]
---
apiVersion: b24ops.io/v1alpha1
kind: ScheduledJob
metadata: {name: promo}
spec:
  metabotRef: {name: sales}
  broadcast: {code: promo}
  runAt: "2026-12-02T10:00:00Z"
status:
  phase: Scheduled
  runAt: "2026-12-02T10:00:00Z"
  conditions: [` + ready + `]
`

const botCommand = `
apiVersion: b24ops.io/v1alpha1
kind: BotCommand
metadata: {name: help}
spec:
  botRef: {name: support}
  command: help
status:
  commandId: 12
  conditions: [` + ready + `]
`

func TestTree(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, ctx, "tree")
	apply(t, ctx, ns, treeObjects)
	other := namespace(t, ctx, "tree-empty")

	cases := []struct {
		name     string
		args     []string
		before   func(t *testing.T)
		wantCode int
	}{
		{name: "tree_namespace", args: []string{"tree", "-n", ns}},
		{name: "tree_one_portal", args: []string{"tree", "-n", ns, "acme"}},
		{name: "tree_portal_not_found", args: []string{"tree", "-n", ns, "nope"}, wantCode: 1},
		{name: "tree_empty_namespace", args: []string{"tree", "-n", other}},
		{name: "version", args: []string{"version"}},
		{name: "tree_json", args: []string{"tree", "-n", ns, "acme", "-o", "json"}},
		// The same namespace once the cluster serves BotCommand: the plugin finds it by discovery.
		{name: "tree_with_botcommands", args: []string{"tree", "-n", ns, "acme"}, before: func(t *testing.T) {
			installBotCommandCRD(t)
			apply(t, ctx, ns, botCommand)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			r := kubectlB24(t, ctx, tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; stderr: %s", r.code, tc.wantCode, r.stderr)
			}
			golden(t, tc.name, r.stdout+r.stderr)
		})
	}
}
