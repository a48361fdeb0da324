package v1alpha1_test

// These tests pin the single-object rules of the API contract (shared/API.md) against a real
// kube-apiserver: the CRD schemas (OpenAPI + CEL) must refuse what the contract forbids, with an
// error that names the field and the rule, and accept the samples and the legal edge cases.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// env is one control plane shared by every test of this file; each test works in its own
// namespace.
var env *testenv.Env

func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard())
	var err error
	env, err = testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start the control plane: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop the control plane: %v\n", err)
	}
	os.Exit(code)
}

var kinds = []string{"Portal", "ChatBot", "ChatApp", "Chat", "BotCommand", "Metabot", "ScheduledJob"}

// --- building manifests -----------------------------------------------------------------------

// baseSpecs are minimal valid specs; every invalid case breaks exactly one rule of one of them.
var baseSpecs = map[string]string{
	"Portal": `
url: https://acme.bitrix24.ru
auth:
  webhook: {clientId: acme-bots, secretRef: {name: acme-webhook}}`,
	"ChatBot": `
portalRef: {name: acme}
code: support
eventHandler: https://bots.acme.ru/b24/events
properties: {name: Support}`,
	"ChatApp": `
botRef: {name: support}
code: help
jsCommand: {method: Send, param: /help}
translations:
- {language: en, title: Help}`,
	"Chat": `
botRef: {name: support}
title: Incidents`,
	"BotCommand": `
botRef: {name: support}
command: help
eventHandler: https://bots.acme.ru/b24/commands
translations:
- {language: en, title: Help, params: "[topic]"}`,
	"Metabot": `
botId: 1234
tokenSecretRef: {name: metabot-token, key: token}`,
	"ScheduledJob": `
metabotRef: {name: sales}
script: {code: weekly_digest}`,
}

// y parses a YAML value the way the API machinery does (integers as int64).
func y(s string) any {
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		panic(err)
	}
	var v any
	if err := utiljson.Unmarshal(j, &v); err != nil {
		panic(err)
	}
	return v
}

// mutation edits a spec in place.
type mutation func(spec map[string]any)

// set sets a dotted path (creating intermediate objects). Ints become int64 and YAML-ish
// strings stay strings: pass y(`...`) for nested values.
func set(path string, v any) mutation {
	return func(spec map[string]any) {
		keys := strings.Split(path, ".")
		m := spec
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = norm(v)
	}
}

// unset removes a dotted path.
func unset(path string) mutation {
	return func(spec map[string]any) {
		keys := strings.Split(path, ".")
		m := spec
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				return
			}
			m = next
		}
		delete(m, keys[len(keys)-1])
	}
}

func norm(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	return v
}

// spec is the kind's base spec with the mutations applied.
func spec(kind string, muts ...mutation) map[string]any {
	s := y(baseSpecs[kind]).(map[string]any)
	for _, m := range muts {
		m(s)
	}
	return s
}

func object(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(b24v1.GroupVersion.String())
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func emptyObject(kind string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(b24v1.GroupVersion.String())
	u.SetKind(kind)
	return u
}

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := env.CreateNamespace(context.Background(), prefix)
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns
}

// assertRefused checks that err is the API server's Invalid error naming the field path
// ("spec.url") and containing the message.
func assertRefused(t *testing.T, err error, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want refused at %s with %q", field, msg)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid error, got %v", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), field+":") {
		t.Errorf("error does not name the field %s:\n%v", field, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error does not say %q:\n%v", msg, err)
	}
}

// --- samples ------------------------------------------------------------------------------------

func readSamples(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			j, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if s := strings.TrimSpace(string(j)); s == "null" || s == "{}" {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(j); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, u)
		}
	}
	return objs
}

// observedGeneration reads the field through the typed API, which also proves that what the
// server stored decodes into the Go types the controllers use.
func observedGeneration(t *testing.T, u *unstructured.Unstructured) int64 {
	t.Helper()
	ro, err := env.Client.Scheme().New(u.GroupVersionKind())
	if err != nil {
		t.Fatal(err)
	}
	obj := ro.(client.Object)
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), obj); err != nil {
		t.Fatalf("typed get %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	switch o := obj.(type) {
	case *b24v1.Portal:
		return o.Status.ObservedGeneration
	case *b24v1.ChatBot:
		return o.Status.ObservedGeneration
	case *b24v1.ChatApp:
		return o.Status.ObservedGeneration
	case *b24v1.Chat:
		return o.Status.ObservedGeneration
	case *b24v1.BotCommand:
		return o.Status.ObservedGeneration
	case *b24v1.Metabot:
		return o.Status.ObservedGeneration
	case *b24v1.ScheduledJob:
		return o.Status.ObservedGeneration
	}
	t.Fatalf("unexpected kind %s", u.GetKind())
	return 0
}

func TestSamplesApply(t *testing.T) {
	ctx := context.Background()
	objs := readSamples(t)
	// The samples' Namespace (team-a) is created under a generated name, and the objects are
	// moved into it, so that this test has its own namespace and can run again (-count).
	renamed := map[string]string{}
	for _, u := range objs {
		if u.GetAPIVersion() == "v1" && u.GetKind() == "Namespace" {
			renamed[u.GetName()] = ""
			u.SetGenerateName(u.GetName() + "-")
			u.SetName("")
		}
	}
	seen := map[string]bool{}
	for _, u := range objs {
		if ns, ok := renamed[u.GetNamespace()]; ok {
			u.SetNamespace(ns)
		}
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		if u.GetKind() == "Namespace" {
			renamed[strings.TrimSuffix(u.GetGenerateName(), "-")] = u.GetName()
		}
		if u.GroupVersionKind().Group == b24v1.GroupVersion.Group {
			seen[u.GetKind()] = true
		}
	}
	for _, k := range kinds {
		if !seen[k] {
			t.Errorf("no sample of kind %s", k)
		}
	}
	for _, u := range objs {
		if u.GroupVersionKind().Group != b24v1.GroupVersion.Group {
			continue
		}
		got := emptyObject(u.GetKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
			t.Fatalf("get %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		og, found, err := unstructured.NestedInt64(got.Object, "status", "observedGeneration")
		if err != nil || !found || og != -1 {
			t.Errorf("%s %s: status.observedGeneration = %v (found %v, err %v), want -1; status: %v",
				u.GetKind(), u.GetName(), og, found, err, got.Object["status"])
		}
		if og := observedGeneration(t, u); og != -1 {
			t.Errorf("%s %s: typed status.observedGeneration = %d, want -1", u.GetKind(), u.GetName(), og)
		}
	}
}

// --- single-object rules ------------------------------------------------------------------------

type invalidCase struct {
	name  string // the behaviour pinned
	kind  string
	spec  map[string]any
	field string // field path in the error, e.g. spec.url
	msg   string // message substring
}

func invalidCases() []invalidCase {
	const (
		https    = "must be an absolute https URL"
		pattern  = "should match"
		enum     = "Unsupported value"
		required = "Required value"
	)
	handlers := func() any {
		return y(`{messageAdd: "https://bots.acme.ru/add", welcomeMessage: "https://bots.acme.ru/welcome", botDelete: "https://bots.acme.ru/delete"}`)
	}
	iframe := func() any {
		return y(`{url: "https://apps.acme.ru/frame", width: 350, height: 150, hashSecretRef: {name: frame-hash, key: hash}}`)
	}
	return []invalidCase{
		// Portal
		{"portal url must be https", "Portal", spec("Portal", set("url", "http://acme.bitrix24.ru")), "spec.url", "url must be an absolute https URL"},
		{"portal url must be absolute", "Portal", spec("Portal", set("url", "acme.bitrix24.ru")), "spec.url", "url must be an absolute https URL"},
		{"portal url must not have a path", "Portal", spec("Portal", set("url", "https://acme.bitrix24.ru/crm/")), "spec.url", "without a path"},
		{"portal url must not have a query", "Portal", spec("Portal", set("url", "https://acme.bitrix24.ru?lang=en")), "spec.url", "without a path, query, fragment or user info"},
		{"portal url must not have user info", "Portal", spec("Portal", set("url", "https://admin@acme.bitrix24.ru")), "spec.url", "without a path, query, fragment or user info"},
		{"portal url is required", "Portal", spec("Portal", unset("url")), "spec.url", required},
		{"portal auth: webhook and oauth both", "Portal", spec("Portal", set("auth.oauth", y(`{clientId: local.1, secretRef: {name: acme-oauth}}`))), "spec.auth", "exactly one of auth.webhook or auth.oauth must be set"},
		{"portal auth: neither webhook nor oauth", "Portal", spec("Portal", set("auth", map[string]any{})), "spec.auth", "exactly one of auth.webhook or auth.oauth must be set"},
		{"portal oauth tokenURL must be https", "Portal", spec("Portal", unset("auth.webhook"), set("auth.oauth", y(`{clientId: local.1, secretRef: {name: acme-oauth}, tokenURL: "http://oauth.bitrix.info/oauth/token/"}`))), "spec.auth.oauth.tokenURL", "auth.oauth.tokenURL must be an https URL"},
		{"portal webhook clientId pattern", "Portal", spec("Portal", set("auth.webhook.clientId", "acme bots")), "spec.auth.webhook.clientId", pattern},
		{"portal maxBots at least 1", "Portal", spec("Portal", set("maxBots", 0)), "spec.maxBots", "greater than or equal to 1"},
		{"portal maxBots at most 100", "Portal", spec("Portal", set("maxBots", 101)), "spec.maxBots", "less than or equal to 100"},
		{"portal resyncInterval at least 30s", "Portal", spec("Portal", set("resyncInterval", "29s")), "spec.resyncInterval", "resyncInterval must be a duration of at least 30s"},
		{"portal resyncInterval must be a duration", "Portal", spec("Portal", set("resyncInterval", "ten minutes")), "spec.resyncInterval", "resyncInterval must be a duration of at least 30s"},
		{"portal rateLimit requestsPerSecond at least 1", "Portal", spec("Portal", set("rateLimit", y(`{requestsPerSecond: 0, burst: 50}`))), "spec.rateLimit.requestsPerSecond", "greater than or equal to 1"},

		// ChatBot
		{"chatbot code pattern: no uppercase", "ChatBot", spec("ChatBot", set("code", "Support")), "spec.code", pattern},
		{"chatbot code pattern: at most 64", "ChatBot", spec("ChatBot", set("code", strings.Repeat("a", 65))), "spec.code", pattern},
		{"chatbot type enum", "ChatBot", spec("ChatBot", set("type", "Robot")), "spec.type", enum},
		{"chatbot eventHandler must be https", "ChatBot", spec("ChatBot", set("eventHandler", "http://bots.acme.ru/b24/events")), "spec.eventHandler", https},
		{"chatbot eventHandler and eventHandlers both", "ChatBot", spec("ChatBot", set("eventHandlers", handlers())), "spec", "at most one of eventHandler or eventHandlers may be set"},
		{"chatbot V1 with neither eventHandler nor eventHandlers", "ChatBot", spec("ChatBot", set("api", "V1"), unset("eventHandler")), "spec", "a V1 bot needs exactly one of eventHandler or eventHandlers"},
		{"chatbot api enum", "ChatBot", spec("ChatBot", set("api", "V3")), "spec.api", enum},
		{"chatbot eventMode enum", "ChatBot", spec("ChatBot", set("eventMode", "Poll")), "spec.eventMode", enum},
		{"chatbot eventMode is V2 only", "ChatBot", spec("ChatBot", set("api", "V1"), set("eventMode", "Webhook")), "spec.eventMode", "eventMode is V2 only"},
		{"chatbot eventHandlers is V1 only", "ChatBot", spec("ChatBot", set("api", "V2"), unset("eventHandler"), set("eventHandlers", handlers())), "spec.eventHandlers", "eventHandlers is V1 only"},
		{"chatbot eventHandlers with eventMode", "ChatBot", spec("ChatBot", unset("eventHandler"), set("eventHandlers", handlers()), set("eventMode", "Fetch")), "spec.eventHandlers", "eventHandlers is V1 only and eventMode V2 only"},
		{"chatbot eventMode Webhook needs eventHandler", "ChatBot", spec("ChatBot", unset("eventHandler"), set("eventMode", "Webhook")), "spec.eventHandler", "eventMode Webhook needs eventHandler"},
		{"chatbot Full V1 bot without handlers", "ChatBot", spec("ChatBot", set("api", "V1"), unset("eventHandler"), set("managementPolicy", "Full")), "spec", "a V1 bot needs exactly one of eventHandler or eventHandlers"},
		{"chatbot adopt.id 0", "ChatBot", spec("ChatBot", set("adopt", y(`{id: 0}`))), "spec.adopt.id", "should be greater than or equal to 1"},
		{"chatbot unknown managementPolicy", "ChatBot", spec("ChatBot", set("managementPolicy", "Observe")), "spec.managementPolicy", "Unsupported value"},
		{"chatbot eventMode Fetch takes no eventHandler", "ChatBot", spec("ChatBot", set("eventMode", "Fetch")), "spec.eventHandler", "eventMode Fetch takes no eventHandler"},
		{"chatbot openline is V1 only", "ChatBot", spec("ChatBot", set("api", "V2"), set("openline", true)), "spec.openline", "openline is V1 only"},
		{"chatbot type Human is V1 only", "ChatBot", spec("ChatBot", set("api", "V2"), set("type", "Human")), "spec.type", "type Human is V1 only"},
		{"chatbot type Network is V2 only", "ChatBot", spec("ChatBot", set("api", "V1"), set("type", "Network")), "spec.type", "type Network is V2 only"},
		{"chatbot email is V1 only", "ChatBot", spec("ChatBot", set("api", "V2"), set("properties.email", "bot@acme.ru")), "spec.properties", "properties.email, properties.birthday and properties.website are V1 only"},
		{"chatbot website is V1 only", "ChatBot", spec("ChatBot", set("api", "V2"), set("properties.website", "https://acme.ru")), "spec.properties", "are V1 only"},
		{"chatbot V2 needs name", "ChatBot", spec("ChatBot", set("api", "V2"), set("properties", y(`{lastName: Bot}`))), "spec.properties.name", "a V2 bot needs properties.name"},
		{"chatbot hidden is V2 only", "ChatBot", spec("ChatBot", set("api", "V1"), set("properties.hidden", true)), "spec.properties", "are V2 only"},
		{"chatbot background is V2 only", "ChatBot", spec("ChatBot", set("api", "V1"), set("properties.background", "mint")), "spec.properties", "are V2 only"},
		{"chatbot background enum", "ChatBot", spec("ChatBot", set("properties.background", "red")), "spec.properties.background", enum},
		{"chatbot eventHandlers.botDelete required", "ChatBot", spec("ChatBot", unset("eventHandler"), set("eventHandlers", handlers()), unset("eventHandlers.botDelete")), "spec.eventHandlers.botDelete", required},
		{"chatbot eventHandlers.messageAdd required", "ChatBot", spec("ChatBot", unset("eventHandler"), set("eventHandlers", handlers()), unset("eventHandlers.messageAdd")), "spec.eventHandlers.messageAdd", required},
		{"chatbot eventHandlers.welcomeMessage must be https", "ChatBot", spec("ChatBot", unset("eventHandler"), set("eventHandlers", handlers()), set("eventHandlers.welcomeMessage", "http://bots.acme.ru/welcome")), "spec.eventHandlers.welcomeMessage", https},
		{"chatbot eventHandlers.messageUpdate must be https", "ChatBot", spec("ChatBot", unset("eventHandler"), set("eventHandlers", handlers()), set("eventHandlers.messageUpdate", "http://bots.acme.ru/update")), "spec.eventHandlers.messageUpdate", https},
		{"chatbot properties need name or lastName", "ChatBot", spec("ChatBot", set("properties", y(`{color: GREEN}`))), "spec.properties", "at least one of properties.name or properties.lastName must be set"},
		{"chatbot birthday month 13", "ChatBot", spec("ChatBot", set("properties.birthday", "2016-13-11")), "spec.properties.birthday", pattern},
		{"chatbot birthday not YYYY-MM-DD", "ChatBot", spec("ChatBot", set("properties.birthday", "11.03.2016")), "spec.properties.birthday", pattern},
		{"chatbot gender enum", "ChatBot", spec("ChatBot", set("properties.gender", "X")), "spec.properties.gender", enum},
		{"chatbot color enum", "ChatBot", spec("ChatBot", set("properties.color", "ORANGE")), "spec.properties.color", enum},
		{"chatbot email pattern", "ChatBot", spec("ChatBot", set("properties.email", "support-bot")), "spec.properties.email", pattern},
		{"chatbot deletionPolicy enum", "ChatBot", spec("ChatBot", set("deletionPolicy", "Keep")), "spec.deletionPolicy", enum},
		{"chatbot portalRef required", "ChatBot", spec("ChatBot", unset("portalRef")), "spec.portalRef", required},

		// ChatApp
		{"chatapp jsCommand and iframe both", "ChatApp", spec("ChatApp", set("iframe", iframe())), "spec", "exactly one of jsCommand or iframe must be set"},
		{"chatapp neither jsCommand nor iframe", "ChatApp", spec("ChatApp", unset("jsCommand")), "spec", "exactly one of jsCommand or iframe must be set"},
		{"chatapp iframe url must be https", "ChatApp", spec("ChatApp", unset("jsCommand"), set("iframe", iframe()), set("iframe.url", "http://apps.acme.ru/frame")), "spec.iframe.url", https},
		{"chatapp iframe width at least 250", "ChatApp", spec("ChatApp", unset("jsCommand"), set("iframe", iframe()), set("iframe.width", 249)), "spec.iframe.width", "greater than or equal to 250"},
		{"chatapp iframe height at least 50", "ChatApp", spec("ChatApp", unset("jsCommand"), set("iframe", iframe()), set("iframe.height", 49)), "spec.iframe.height", "greater than or equal to 50"},
		{"chatapp iframe hashSecretRef required", "ChatApp", spec("ChatApp", unset("jsCommand"), set("iframe", iframe()), unset("iframe.hashSecretRef")), "spec.iframe.hashSecretRef", required},
		{"chatapp jsCommand method enum", "ChatApp", spec("ChatApp", set("jsCommand.method", "Post")), "spec.jsCommand.method", enum},
		{"chatapp Put param: no uppercase", "ChatApp", spec("ChatApp", set("jsCommand", y(`{method: Put, param: /Help}`))), "spec.jsCommand.param", "jsCommand.param for Put and Send may only contain a-z 0-9 - + _ /"},
		{"chatapp Send param: no spaces", "ChatApp", spec("ChatApp", set("jsCommand.param", "/help me")), "spec.jsCommand.param", "jsCommand.param for Put and Send may only contain a-z 0-9 - + _ /"},
		{"chatapp Support param: 32 characters", "ChatApp", spec("ChatApp", set("jsCommand", y(`{method: Support, param: `+strings.Repeat("a", 31)+`}`))), "spec.jsCommand.param", "jsCommand.param for Support must be the 32-character open channel code"},
		{"chatapp Call param: a phone number", "ChatApp", spec("ChatApp", set("jsCommand", y(`{method: Call, param: call-me}`))), "spec.jsCommand.param", "jsCommand.param for Call must be a phone number"},
		{"chatapp translations required unless hidden (omitted)", "ChatApp", spec("ChatApp", unset("translations")), "spec.translations", "translations must have at least one entry unless hidden is true"},
		{"chatapp translations required unless hidden (hidden false)", "ChatApp", spec("ChatApp", unset("translations"), set("hidden", false)), "spec.translations", "translations must have at least one entry unless hidden is true"},
		{"chatapp translations required unless hidden (empty list)", "ChatApp", spec("ChatApp", set("translations", []any{})), "spec.translations", "translations must have at least one entry unless hidden is true"},
		{"chatapp language code: two letters", "ChatApp", spec("ChatApp", set("translations", y(`[{language: eng, title: Help}]`))), "spec.translations[0].language", pattern},
		{"chatapp language code: lowercase", "ChatApp", spec("ChatApp", set("translations", y(`[{language: EN, title: Help}]`))), "spec.translations[0].language", pattern},
		{"chatapp one translation per language", "ChatApp", spec("ChatApp", set("translations", y(`[{language: en, title: Help}, {language: en, title: Aid}]`))), "spec.translations[1]", "Duplicate value"},
		{"chatapp context enum", "ChatApp", spec("ChatApp", set("context", "Everywhere")), "spec.context", enum},
		{"chatapp code pattern", "ChatApp", spec("ChatApp", set("code", "help me!")), "spec.code", pattern},

		// BotCommand
		{"botcommand command pattern: no leading slash", "BotCommand", spec("BotCommand", set("command", "/help")), "spec.command", pattern},
		{"botcommand command pattern: lowercase", "BotCommand", spec("BotCommand", set("command", "Help")), "spec.command", pattern},
		{"botcommand command pattern: at most 32", "BotCommand", spec("BotCommand", set("command", strings.Repeat("a", 33))), "spec.command", pattern},
		{"botcommand command required", "BotCommand", spec("BotCommand", unset("command")), "spec.command", required},
		{"botcommand botRef required", "BotCommand", spec("BotCommand", unset("botRef")), "spec.botRef", required},
		{"botcommand translations required unless hidden", "BotCommand", spec("BotCommand", unset("translations")), "spec.translations", "translations must have at least one entry unless hidden is true"},
		{"botcommand one translation per language", "BotCommand", spec("BotCommand", set("translations", y(`[{language: en, title: Help}, {language: en, title: Aid}]`))), "spec.translations[1]", "Duplicate value"},
		{"botcommand eventHandler must be https", "BotCommand", spec("BotCommand", set("eventHandler", "http://bots.acme.ru/cmd")), "spec.eventHandler", https},
		{"botcommand managementPolicy enum", "BotCommand", spec("BotCommand", set("managementPolicy", "ReadOnly")), "spec.managementPolicy", enum},

		// Chat
		{"chat type enum", "Chat", spec("Chat", set("type", "Private")), "spec.type", enum},
		{"chat users are positive ids", "Chat", spec("Chat", set("users", []int{1, 0})), "spec.users[1]", "greater than or equal to 1"},
		{"chat users are a set", "Chat", spec("Chat", set("users", []int{1, 1})), "spec.users[1]", "Duplicate value"},
		{"chat ownerId positive", "Chat", spec("Chat", set("ownerId", 0)), "spec.ownerId", "greater than or equal to 1"},
		{"chat color enum", "Chat", spec("Chat", set("color", "ORANGE")), "spec.color", enum},
		{"chat entity type pattern", "Chat", spec("Chat", set("entity", y(`{type: "B24 OPS", id: team-a/incidents}`))), "spec.entity.type", pattern},
		{"chat entity id required", "Chat", spec("Chat", set("entity", y(`{type: B24OPS}`))), "spec.entity.id", required},
		{"chat title not empty", "Chat", spec("Chat", set("title", "")), "spec.title", "at least 1 chars long"},
		{"chat botRef required", "Chat", spec("Chat", unset("botRef")), "spec.botRef", required},

		// Metabot
		{"metabot url must be https", "Metabot", spec("Metabot", set("url", "http://app.metabot24.com")), "spec.url", https},
		{"metabot botId positive", "Metabot", spec("Metabot", set("botId", 0)), "spec.botId", "greater than or equal to 1"},
		{"metabot tokenSecretRef key pattern", "Metabot", spec("Metabot", set("tokenSecretRef.key", "api token")), "spec.tokenSecretRef.key", pattern},
		{"metabot tokenSecretRef required", "Metabot", spec("Metabot", unset("tokenSecretRef")), "spec.tokenSecretRef", required},

		// ScheduledJob
		{"job script and trigger both", "ScheduledJob", spec("ScheduledJob", set("trigger", y(`{id: 1}`))), "spec", "exactly one of script, trigger or broadcast must be set"},
		{"job none of script, trigger, broadcast", "ScheduledJob", spec("ScheduledJob", unset("script")), "spec", "exactly one of script, trigger or broadcast must be set"},
		{"job target with both id and code", "ScheduledJob", spec("ScheduledJob", set("script.id", 7)), "spec.script", "exactly one of id or code must be set"},
		{"job target with neither id nor code", "ScheduledJob", spec("ScheduledJob", unset("script"), set("broadcast", map[string]any{})), "spec.broadcast", "exactly one of id or code must be set"},
		{"job target id positive", "ScheduledJob", spec("ScheduledJob", unset("script"), set("trigger", y(`{id: 0}`))), "spec.trigger.id", "greater than or equal to 1"},
		{"job runAt and schedule both", "ScheduledJob", spec("ScheduledJob", set("runAt", "2026-12-01T09:00:00+03:00"), set("schedule", "0 9 * * 1")), "spec", "at most one of runAt, runAfter or schedule may be set"},
		{"job runAt and runAfter both", "ScheduledJob", spec("ScheduledJob", set("runAt", "2026-12-01T09:00:00+03:00"), set("runAfter", "5m")), "spec", "at most one of runAt, runAfter or schedule may be set"},
		{"job runAt needs a zone", "ScheduledJob", spec("ScheduledJob", set("runAt", "2026-12-01T09:00:00")), "spec.runAt", pattern},
		{"job runAt is a date-time", "ScheduledJob", spec("ScheduledJob", set("runAt", "tomorrow")), "spec.runAt", "date-time"},
		{"job runAfter not negative", "ScheduledJob", spec("ScheduledJob", set("runAfter", "-5m")), "spec.runAfter", "runAfter must be a duration that is not negative"},
		{"job runAfter must be a duration", "ScheduledJob", spec("ScheduledJob", set("runAfter", "5 minutes")), "spec.runAfter", "runAfter must be a duration that is not negative"},
		{"job timeZone requires schedule", "ScheduledJob", spec("ScheduledJob", set("timeZone", "Europe/Berlin")), "spec.timeZone", "timeZone requires schedule"},
		{"job startingDeadlineSeconds requires schedule", "ScheduledJob", spec("ScheduledJob", set("startingDeadlineSeconds", 300)), "spec.startingDeadlineSeconds", "startingDeadlineSeconds requires schedule"},
		{"job suspend requires schedule", "ScheduledJob", spec("ScheduledJob", set("suspend", true)), "spec.suspend", "suspend requires schedule"},
		{"job cron needs 5 fields", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * *")), "spec.schedule", pattern},
		{"job cron has no seconds field", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 0 9 * * 1")), "spec.schedule", pattern},
		{"job cron descriptor must be known", "ScheduledJob", spec("ScheduledJob", set("schedule", "@fortnightly")), "spec.schedule", pattern},
		{"job timeZone pattern", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1"), set("timeZone", "Europe Berlin")), "spec.timeZone", pattern},
		{"job timeZone must be a known IANA zone", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1"), set("timeZone", "Mars/Olympus")), "spec.timeZone", "timeZone must be a known IANA time zone"},
		{"job timeZone Local is refused", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1"), set("timeZone", "Local")), "spec.timeZone", "timeZone must be a known IANA time zone"},
		{"job startingDeadlineSeconds positive", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1"), set("startingDeadlineSeconds", 0)), "spec.startingDeadlineSeconds", "greater than or equal to 1"},
		{"job addTags without commas", "ScheduledJob", spec("ScheduledJob", set("addTags", []string{"ok", "a,b"})), "spec.addTags[1]", pattern},
		{"job removeTags without commas", "ScheduledJob", spec("ScheduledJob", set("removeTags", []string{"x,y"})), "spec.removeTags[0]", pattern},
		{"job leadId positive", "ScheduledJob", spec("ScheduledJob", set("leadId", 0)), "spec.leadId", "greater than or equal to 1"},
		{"job params is an object", "ScheduledJob", spec("ScheduledJob", set("params", "first_param=7")), "spec.params", "must be of type object"},
		{"job metabotRef required", "ScheduledJob", spec("ScheduledJob", unset("metabotRef")), "spec.metabotRef", required},
	}
}

func TestInvalidManifestsAreRefused(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "invalid")
	cases := invalidCases()
	perKind := map[string]int{}
	for i, tc := range cases {
		perKind[tc.kind]++
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, object(tc.kind, ns, fmt.Sprintf("c%03d", i), tc.spec))
			assertRefused(t, err, tc.field, tc.msg)
		})
	}
	for _, k := range kinds {
		if perKind[k] == 0 {
			t.Errorf("no invalid case for %s", k)
		}
	}
}

// TestEdgeCasesAreAccepted pins the legal side of the same rules.
func TestEdgeCasesAreAccepted(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "accepted")
	handlers := y(`{messageAdd: "https://bots.acme.ru/add", welcomeMessage: "https://bots.acme.ru/welcome", botDelete: "https://bots.acme.ru/delete"}`)
	iframe := y(`{url: "https://apps.acme.ru/frame", width: 250, height: 50, hashSecretRef: {name: frame-hash, key: hash}}`)
	cases := []struct {
		name string
		kind string
		spec map[string]any
	}{
		{"portal url with trailing slash", "Portal", spec("Portal", set("url", "https://acme.bitrix24.ru/"))},
		{"portal url with a port", "Portal", spec("Portal", set("url", "https://b24.local:8443"))},
		{"portal oauth with https tokenURL", "Portal", spec("Portal", unset("auth.webhook"), set("auth.oauth", y(`{clientId: local.65f0, secretRef: {name: acme-oauth}, tokenURL: "https://oauth.local:8443/oauth/token/"}`)))},
		{"portal maxBots 1, resyncInterval 30s", "Portal", spec("Portal", set("maxBots", 1), set("resyncInterval", "30s"))},
		{"portal maxBots 100", "Portal", spec("Portal", set("maxBots", 100))},
		{"chatbot eventHandlers with the three required", "ChatBot", spec("ChatBot", unset("eventHandler"), set("eventHandlers", handlers))},
		{"chatbot lastName only", "ChatBot", spec("ChatBot", set("properties", y(`{lastName: Bot}`)))},
		{"chatbot api unset without handler (V2 fetch)", "ChatBot", spec("ChatBot", unset("eventHandler"))},
		{"chatbot V2 fetch", "ChatBot", spec("ChatBot", set("api", "V2"), unset("eventHandler"), set("eventMode", "Fetch"))},
		{"chatbot V2 webhook with every V2 property", "ChatBot", spec("ChatBot", set("api", "V2"), set("eventMode", "Webhook"), set("type", "Network"),
			set("properties", y(`{name: Support, background: frost, hidden: false, reactions: true, supportOpenline: true, gender: F, workPosition: Help}`)))},
		{"chatbot V1 with every V1 property", "ChatBot", spec("ChatBot", set("api", "V1"), set("openline", true), set("type", "Human"),
			set("properties", y(`{lastName: Bot, email: bot@acme.ru, birthday: "2016-03-11", website: "https://acme.ru"}`)))},
		{"chatbot every type", "ChatBot", spec("ChatBot", set("type", "Human"), set("properties.gender", "M"), set("properties.birthday", "2016-02-29"))},
		{"chatbot ObserveOnly V1 without handlers (imbot.bot.list does not show them)", "ChatBot", spec("ChatBot", set("api", "V1"), unset("eventHandler"), set("managementPolicy", "ObserveOnly"))},
		{"chatbot ObserveOnly V2 webhook without eventHandler (Bot.list does not show it)", "ChatBot", spec("ChatBot", set("api", "V2"), unset("eventHandler"), set("eventMode", "Webhook"), set("managementPolicy", "ObserveOnly"))},
		{"chatbot adopt.id", "ChatBot", spec("ChatBot", set("managementPolicy", "ObserveOnly"), set("adopt", y(`{id: 39}`)))},
		{"chatapp adopt.id", "ChatApp", spec("ChatApp", set("managementPolicy", "ObserveOnly"), set("adopt", y(`{id: 13}`)))},
		{"chatapp hidden without translations", "ChatApp", spec("ChatApp", unset("translations"), set("hidden", true))},
		{"chatapp iframe 250x50", "ChatApp", spec("ChatApp", unset("jsCommand"), set("iframe", iframe))},
		{"chatapp Put param", "ChatApp", spec("ChatApp", set("jsCommand", y(`{method: Put, param: "/ticket+new_1"}`)))},
		{"chatapp Support param of 32", "ChatApp", spec("ChatApp", set("jsCommand", y(`{method: Support, param: 0123456789abcdef0123456789ABCDEF}`)))},
		{"chatapp Call param", "ChatApp", spec("ChatApp", set("jsCommand", y(`{method: Call, param: "+7 (495) 123-45-67"}`)))},
		{"chat minimal", "Chat", map[string]any{"botRef": map[string]any{"name": "support"}}},
		{"chat open with entity", "Chat", spec("Chat", set("type", "Open"), set("users", []int{1, 2}), set("entity", y(`{type: crm.lead, id: "42"}`)))},
		{"metabot without url", "Metabot", spec("Metabot")},
		{"job as soon as possible", "ScheduledJob", spec("ScheduledJob")},
		{"job runAt with Z", "ScheduledJob", spec("ScheduledJob", set("runAt", "2026-12-01T06:00:00Z"))},
		{"job runAt with fraction", "ScheduledJob", spec("ScheduledJob", set("runAt", "2026-12-01T06:00:00.5+03:00"))},
		{"job runAfter 0s", "ScheduledJob", spec("ScheduledJob", unset("script"), set("trigger", y(`{id: 1}`)), set("runAfter", "0s"))},
		{"job cron descriptor", "ScheduledJob", spec("ScheduledJob", unset("script"), set("broadcast", y(`{code: promo}`)), set("schedule", "@daily"))},
		{"job cron in Europe/Berlin", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1"), set("timeZone", "Europe/Berlin"), set("startingDeadlineSeconds", 300), set("suspend", false))},
		{"job cron in UTC", "ScheduledJob", spec("ScheduledJob", set("schedule", "*/5 * * * *"), set("timeZone", "UTC"))},
		{"job cron in America/Argentina/Buenos_Aires", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1-5"), set("timeZone", "America/Argentina/Buenos_Aires"))},
		{"job cron in Etc/GMT+3", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1-5"), set("timeZone", "Etc/GMT+3"))},
		{"job params nested, tags", "ScheduledJob", spec("ScheduledJob", set("params", y(`{first_param: 7, second_param: {any_key: any_value}}`)), set("addTags", []string{"tag 1", "tag2"}))},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := object(tc.kind, ns, fmt.Sprintf("a%03d", i), tc.spec)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if og := observedGeneration(t, u); og != -1 {
				t.Errorf("status.observedGeneration = %d, want -1", og)
			}
		})
	}
}

// --- immutability ---------------------------------------------------------------------------

type step struct {
	desc  string
	muts  []mutation
	field string // empty: the update must be accepted
	msg   string
}

func allow(desc string, muts ...mutation) step { return step{desc: desc, muts: muts} }

func refuse(desc, field, msg string, muts ...mutation) step {
	return step{desc: desc, muts: muts, field: field, msg: msg}
}

func TestImmutableFields(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "immutable")
	oneShot := "the spec of a one-shot ScheduledJob is immutable"
	cases := []struct {
		name  string
		kind  string
		spec  map[string]any
		steps []step
	}{
		{"chatbot", "ChatBot", spec("ChatBot", set("type", "Bot")), []step{
			refuse("portalRef", "spec.portalRef", "portalRef is immutable", set("portalRef.name", "other")),
			refuse("code", "spec.code", "code is immutable", set("code", "support2")),
			refuse("type Bot to Human", "spec.type", "type is immutable", set("type", "Human")),
			allow("properties.name", set("properties.name", "Helpdesk")),
			allow("eventHandler", set("eventHandler", "https://bots.acme.ru/v2/events")),
			allow("deletionPolicy", set("deletionPolicy", "Orphan")),
			allow("type Bot removed (the default)", unset("type")),
			allow("adopt.id added", set("adopt", y(`{id: 39}`))),
			refuse("adopt.id changed", "spec.adopt.id", "adopt.id cannot change", set("adopt.id", 40)),
			allow("adopt removed", unset("adopt")),
		}},
		{"chatbot observed without handlers", "ChatBot", spec("ChatBot", set("api", "V1"), unset("eventHandler"), set("managementPolicy", "ObserveOnly")), []step{
			refuse("switched to Full without handlers", "spec", "a V1 bot needs exactly one of eventHandler or eventHandlers", set("managementPolicy", "Full")),
			allow("switched to Full with a handler", set("managementPolicy", "Full"), set("eventHandler", "https://bots.acme.ru/b24/events")),
		}},
		{"chatbot type omitted", "ChatBot", spec("ChatBot"), []step{
			refuse("set to Supervisor", "spec.type", "type is immutable", set("type", "Supervisor")),
			allow("set to Bot, the default", set("type", "Bot")),
			refuse("Bot to OpenLine", "spec.type", "type is immutable", set("type", "OpenLine")),
		}},
		{"chatbot type Supervisor", "ChatBot", spec("ChatBot", set("type", "Supervisor")), []step{
			refuse("removed (would become Bot)", "spec.type", "type is immutable", unset("type")),
		}},
		{"chatapp", "ChatApp", spec("ChatApp"), []step{
			refuse("botRef", "spec.botRef", "botRef is immutable", set("botRef.name", "other")),
			refuse("code", "spec.code", "code is immutable", set("code", "help2")),
			allow("translations", set("translations", y(`[{language: ru, title: Помощь}, {language: en, title: Help}]`))),
			allow("context, hidden", set("context", "Chat"), set("hidden", true)),
			allow("adopt.id added", set("adopt", y(`{id: 13}`))),
			refuse("adopt.id changed", "spec.adopt.id", "adopt.id cannot change", set("adopt.id", 14)),
		}},
		{"botcommand", "BotCommand", spec("BotCommand"), []step{
			refuse("botRef", "spec.botRef", "botRef is immutable", set("botRef.name", "other")),
			refuse("command", "spec.command", "command is immutable", set("command", "help2")),
			allow("translations, common, hidden", set("translations", y(`[{language: ru, title: Помощь}]`)), set("common", true), set("hidden", true)),
			allow("hidden without translations", set("hidden", true), unset("translations")),
		}},
		{"chat", "Chat", spec("Chat", set("type", "Chat"), set("entity", y(`{type: B24OPS, id: team-a/incidents}`))), []step{
			refuse("botRef", "spec.botRef", "botRef is immutable", set("botRef.name", "other")),
			refuse("type Chat to Open", "spec.type", "type is immutable", set("type", "Open")),
			refuse("entity id", "spec.entity", "entity is immutable", set("entity.id", "team-a/other")),
			refuse("entity removed", "spec.entity", "entity is immutable", unset("entity")),
			allow("title, users, ownerId, color", set("title", "Incidents 2"), set("users", []int{1, 2, 3}), set("ownerId", 2), set("color", "MINT")),
			allow("users emptied", unset("users")),
			allow("adopt.id added", set("adopt", y(`{id: 2725}`))),
			refuse("adopt.id changed", "spec.adopt.id", "adopt.id cannot change", set("adopt.id", 2726)),
		}},
		{"chat type and entity omitted", "Chat", spec("Chat"), []step{
			refuse("type set to Open", "spec.type", "type is immutable", set("type", "Open")),
			refuse("entity added", "spec.entity", "entity is immutable", set("entity", y(`{type: B24OPS, id: x}`))),
			allow("type set to Chat, the default", set("type", "Chat")),
		}},
		{"metabot", "Metabot", spec("Metabot"), []step{
			refuse("botId", "spec.botId", "botId is immutable", set("botId", 1235)),
			allow("url, token, rateLimit", set("url", "https://metabot.local:8443"), set("tokenSecretRef.key", "token2"), set("rateLimit", y(`{requestsPerSecond: 1, burst: 1}`))),
		}},
		{"portal", "Portal", spec("Portal"), []step{
			allow("maxBots", set("maxBots", 10)),
			allow("url, resyncInterval", set("url", "https://acme2.bitrix24.ru"), set("resyncInterval", "1h")),
			allow("webhook to oauth", unset("auth.webhook"), set("auth.oauth", y(`{clientId: local.1, secretRef: {name: acme-oauth}}`))),
		}},
		{"one-shot job at a time", "ScheduledJob", spec("ScheduledJob", set("runAt", "2026-12-01T09:00:00+03:00"), set("leadId", 135)), []step{
			refuse("leadId", "spec", oneShot, set("leadId", 136)),
			refuse("runAt", "spec", oneShot, set("runAt", "2026-12-02T09:00:00+03:00")),
			refuse("target", "spec", oneShot, set("script.code", "other")),
			refuse("metabotRef", "spec", oneShot, set("metabotRef.name", "other")),
			refuse("params added", "spec", oneShot, set("params", y(`{a: 1}`))),
			refuse("made cron", "spec", oneShot, unset("runAt"), set("schedule", "0 9 * * 1")),
		}},
		{"one-shot job as soon as possible", "ScheduledJob", spec("ScheduledJob"), []step{
			refuse("runAfter added", "spec", oneShot, set("runAfter", "5m")),
			refuse("tags added", "spec", oneShot, set("addTags", []string{"x"})),
		}},
		{"cron job", "ScheduledJob", spec("ScheduledJob", set("schedule", "0 9 * * 1"), set("leadId", 135)), []step{
			allow("schedule", set("schedule", "0 10 * * 1-5")),
			allow("timeZone, suspend, startingDeadlineSeconds", set("timeZone", "Europe/Moscow"), set("suspend", true), set("startingDeadlineSeconds", 60)),
			allow("target and leadId", set("script.code", "daily_digest"), set("leadId", 136)),
			refuse("schedule removed (made one-shot)", "spec.schedule", "schedule cannot be removed from a cron ScheduledJob", unset("schedule"), unset("timeZone"), unset("suspend"), unset("startingDeadlineSeconds")),
			refuse("schedule replaced by runAt", "spec.schedule", "schedule cannot be removed from a cron ScheduledJob", unset("schedule"), unset("timeZone"), unset("suspend"), unset("startingDeadlineSeconds"), set("runAt", "2026-12-01T09:00:00+03:00")),
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("u%03d", i)
			if err := env.Client.Create(ctx, object(tc.kind, ns, name, tc.spec)); err != nil {
				t.Fatalf("create: %v", err)
			}
			for _, st := range tc.steps {
				u := emptyObject(tc.kind)
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
					t.Fatal(err)
				}
				before := u.DeepCopy()
				s := u.Object["spec"].(map[string]any)
				for _, m := range st.muts {
					m(s)
				}
				err := env.Client.Update(ctx, u)
				if st.field == "" {
					if err != nil {
						t.Errorf("%s: refused: %v", st.desc, err)
					}
					continue
				}
				t.Run(st.desc, func(t *testing.T) { assertRefused(t, err, st.field, st.msg) })
				after := emptyObject(tc.kind)
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, after); err != nil {
					t.Fatal(err)
				}
				if after.GetResourceVersion() != before.GetResourceVersion() {
					t.Errorf("%s: refused update changed the object", st.desc)
				}
			}
		})
	}

	// A one-shot job's metadata may still change (labels, the resend annotation).
	t.Run("one-shot job metadata", func(t *testing.T) {
		u := object("ScheduledJob", ns, "meta", spec("ScheduledJob"))
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		u.SetLabels(map[string]string{"team": "a"})
		u.SetAnnotations(map[string]string{b24v1.ResendAnnotation: "1"})
		if err := env.Client.Update(ctx, u); err != nil {
			t.Fatalf("metadata update refused: %v", err)
		}
	})
}

// --- CRD shape ------------------------------------------------------------------------------

func loadCRDs(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		crds[crd.Spec.Names.Kind] = crd
	}
	for _, k := range kinds {
		if crds[k] == nil {
			t.Fatalf("no CRD for %s in config/crd/bases", k)
		}
	}
	if len(crds) != len(kinds) {
		t.Errorf("%d CRDs, want %d", len(crds), len(kinds))
	}
	return crds
}

// defaultsUnder lists the paths of every schema with a default, at or below s.
func defaultsUnder(path string, s *apiextensionsv1.JSONSchemaProps) []string {
	if s == nil {
		return nil
	}
	var out []string
	if s.Default != nil {
		out = append(out, path)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
		p := s.Properties[k]
		out = append(out, defaultsUnder(path+"."+k, &p)...)
	}
	if s.Items != nil {
		out = append(out, defaultsUnder(path+"[]", s.Items.Schema)...)
		for i := range s.Items.JSONSchemas {
			out = append(out, defaultsUnder(fmt.Sprintf("%s[%d]", path, i), &s.Items.JSONSchemas[i])...)
		}
	}
	if s.AdditionalProperties != nil {
		out = append(out, defaultsUnder(path+".*", s.AdditionalProperties.Schema)...)
	}
	for _, group := range [][]apiextensionsv1.JSONSchemaProps{s.AllOf, s.AnyOf, s.OneOf} {
		for i := range group {
			out = append(out, defaultsUnder(path, &group[i])...)
		}
	}
	out = append(out, defaultsUnder(path, s.Not)...)
	return out
}

func TestNoDefaultsOnOptionalSpecFields(t *testing.T) {
	for kind, crd := range loadCRDs(t) {
		if len(crd.Spec.Versions) != 1 {
			t.Fatalf("%s: %d versions, want 1", kind, len(crd.Spec.Versions))
		}
		root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
		specSchema, ok := root.Properties["spec"]
		if !ok {
			t.Fatalf("%s: no spec schema", kind)
		}
		if got := defaultsUnder("spec", &specSchema); len(got) > 0 {
			t.Errorf("%s: CRD defaults under spec (ArgoCD shows them as drift; default in Go instead): %v", kind, got)
		}
		// The walk does find defaults where they belong: status defaults to
		// {observedGeneration: -1}.
		statusSchema := root.Properties["status"]
		if got := defaultsUnder("status", &statusSchema); !slices.Contains(got, "status.observedGeneration") {
			t.Errorf("%s: status.observedGeneration has no default (defaults found: %v)", kind, got)
		}
		og := statusSchema.Properties["observedGeneration"]
		if og.Default == nil || string(og.Default.Raw) != "-1" {
			t.Errorf("%s: status.observedGeneration default = %v, want -1", kind, og.Default)
		}
		if statusSchema.Default == nil {
			t.Errorf("%s: status has no default, so a new object has no status.observedGeneration", kind)
		}
	}
}

func TestCRDNamesAndColumns(t *testing.T) {
	want := map[string]struct {
		plural, short string
		idColumn      string // name of the kind's ID column; empty when the kind has none
		idPath        string
	}{
		"Portal":       {"portals", "b24portal", "", ""},
		"ChatBot":      {"chatbots", "b24bot", "Bot ID", ".status.botId"},
		"ChatApp":      {"chatapps", "b24app", "App ID", ".status.appId"},
		"Chat":         {"chats", "b24chat", "Chat ID", ".status.chatId"},
		"BotCommand":   {"botcommands", "b24cmd", "Command ID", ".status.commandId"},
		"Metabot":      {"metabots", "metabot", "", ""},
		"ScheduledJob": {"scheduledjobs", "mbjob", "Accepted At", ".status.scheduledAt"},
	}
	const readyPath = `.status.conditions[?(@.type=="Ready")]`
	for kind, crd := range loadCRDs(t) {
		w := want[kind]
		t.Run(kind, func(t *testing.T) {
			n := crd.Spec.Names
			if crd.Spec.Group != b24v1.GroupVersion.Group || crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
				t.Errorf("group %s scope %s, want %s Namespaced", crd.Spec.Group, crd.Spec.Scope, b24v1.GroupVersion.Group)
			}
			if n.Plural != w.plural {
				t.Errorf("plural %q, want %q", n.Plural, w.plural)
			}
			if !slices.Equal(n.Categories, []string{"b24ops"}) {
				t.Errorf("categories %v, want [b24ops]", n.Categories)
			}
			if !slices.Equal(n.ShortNames, []string{w.short}) {
				t.Errorf("short names %v, want [%s]", n.ShortNames, w.short)
			}
			v := crd.Spec.Versions[0]
			if v.Name != b24v1.GroupVersion.Version || !v.Served || !v.Storage {
				t.Errorf("version %s served=%v storage=%v", v.Name, v.Served, v.Storage)
			}
			if v.Subresources == nil || v.Subresources.Status == nil {
				t.Errorf("no status subresource")
			}
			cols := map[string]apiextensionsv1.CustomResourceColumnDefinition{}
			var names []string
			for _, c := range v.AdditionalPrinterColumns {
				cols[c.Name] = c
				names = append(names, c.Name)
			}
			if len(names) < 2 || names[0] != "Ready" || names[1] != "Reason" {
				t.Errorf("columns %v: want Ready, Reason first", names)
			}
			check := func(name, path, typ string, priority int32) {
				t.Helper()
				c, ok := cols[name]
				if !ok {
					t.Errorf("no %q column (columns: %v)", name, names)
					return
				}
				if c.JSONPath != path || c.Type != typ || c.Priority != priority {
					t.Errorf("column %s = {%s %s priority %d}, want {%s %s priority %d}", name, c.JSONPath, c.Type, c.Priority, path, typ, priority)
				}
			}
			check("Ready", readyPath+".status", "string", 0)
			check("Reason", readyPath+".reason", "string", 0)
			check("Age", ".metadata.creationTimestamp", "date", 0)
			check("Message", readyPath+".message", "string", 1)
			if w.idColumn != "" {
				c, ok := cols[w.idColumn]
				if !ok || c.JSONPath != w.idPath || c.Priority != 0 {
					t.Errorf("ID column %q: got %+v, want path %s priority 0", w.idColumn, c, w.idPath)
				}
			}
		})
	}

	// The API server serves the same names: `kubectl get b24ops` and the short names work.
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		rl, err := dc.ServerResourcesForGroupVersion(b24v1.GroupVersion.String())
		if err == nil {
			list = list[:0]
			for _, r := range rl.APIResources {
				if strings.Contains(r.Name, "/") {
					continue
				}
				w, ok := want[r.Kind]
				if !ok {
					t.Errorf("unexpected resource %s", r.Name)
					continue
				}
				list = append(list, r.Kind)
				if !r.Namespaced || !slices.Equal(r.Categories, []string{"b24ops"}) || !slices.Equal(r.ShortNames, []string{w.short}) {
					t.Errorf("served %s: namespaced=%v categories=%v shortNames=%v", r.Name, r.Namespaced, r.Categories, r.ShortNames)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("discovery: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sort.Strings(list)
	wantKinds := slices.Clone(kinds)
	sort.Strings(wantKinds)
	if !slices.Equal(list, wantKinds) {
		t.Errorf("served kinds %v, want %v", list, wantKinds)
	}
}
