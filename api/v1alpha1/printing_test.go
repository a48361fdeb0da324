package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// --- field descriptions (what `kubectl explain` shows) -----------------------------------------

// tautology matches a description that only restates the field as its wire name ("Name is
// NAME.", "LeadID is lead_id."), optionally followed by boilerplate that explains nothing.
var tautology = regexp.MustCompile(`^\w+ (is|are) [A-Za-z_.]+[.,;]?\s*((Defaults to [^.]*|Kept in sync|Immutable|Optional)\.?\s*)*$`)

// descriptionProblem says what is wrong with a field's description, or "".
func descriptionProblem(d string) string {
	d = strings.Join(strings.Fields(d), " ")
	switch {
	case d == "":
		return "no description"
	case tautology.MatchString(d):
		return "only restates the field name"
	case len(strings.Fields(d)) < 4:
		return "too short to say what the field is"
	}
	return ""
}

func TestDescriptionProblem(t *testing.T) {
	for _, tc := range []struct {
		desc, want string
	}{
		{"", "no description"},
		{"Name is NAME.", "only restates the field name"},
		{"LeadID is lead_id.", "only restates the field name"},
		{"Hidden is HIDDEN. Defaults to false.", "only restates the field name"},
		{"Title is TITLE. Kept in sync.", "only restates the field name"},
		{"Key within it.", "too short to say what the field is"},
		{"Name is the bot's first name, shown in chats. Sent as PROPERTIES.NAME.", ""},
		{"Periodic asks Metabot to repeat the job. Sent as is_periodic. Defaults to false.", ""},
	} {
		if got := descriptionProblem(tc.desc); got != tc.want {
			t.Errorf("descriptionProblem(%q) = %q, want %q", tc.desc, got, tc.want)
		}
	}
}

func describeFields(path string, s *apiextensionsv1.JSONSchemaProps, visit func(path, desc string)) {
	for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
		p := s.Properties[k]
		visit(path+"."+k, p.Description)
		describeFields(path+"."+k, &p, visit)
	}
	if s.Items != nil && s.Items.Schema != nil {
		describeFields(path+"[]", s.Items.Schema, visit)
	}
}

// TestFieldDescriptionsSaySomething fails on a field of a generated CRD whose description is
// empty or says nothing beyond its name: `kubectl explain` shows these to users.
func TestFieldDescriptionsSaySomething(t *testing.T) {
	for kind, crd := range loadCRDs(t) {
		root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
		if p := descriptionProblem(root.Description); p != "" {
			t.Errorf("%s: %s", kind, p)
		}
		describeFields(kind, root, func(path, desc string) {
			// metadata is described by the API server; conditions are metav1.Condition's.
			if path == kind+".metadata" || strings.Contains(path, ".conditions[]") {
				return
			}
			if p := descriptionProblem(desc); p != "" {
				t.Errorf("%s: %s: %q", path, p, desc)
			}
		})
	}
}

// --- columns on a live API server ---------------------------------------------------------------

// table fetches the server-side table `kubectl get -o wide` prints.
func table(t *testing.T, resource, ns, name string) (cols []string, cells map[string]any, types map[string]string) {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	u := fmt.Sprintf("%s/apis/b24ops.io/v1alpha1/namespaces/%s/%s/%s", strings.TrimSuffix(env.Config.Host, "/"), ns, resource, name)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as Table: %d %s", u, resp.StatusCode, body)
	}
	var tab metav1.Table
	if err := json.Unmarshal(body, &tab); err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 1 {
		t.Fatalf("%d rows", len(tab.Rows))
	}
	cells, types = map[string]any{}, map[string]string{}
	for i, c := range tab.ColumnDefinitions {
		cols = append(cols, c.Name)
		cells[c.Name] = tab.Rows[0].Cells[i]
		types[c.Name] = c.Type
	}
	return cols, cells, types
}

func TestPrinterColumnsOnTheAPIServer(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "columns")
	next := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	accepted := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)

	create := func(kind, name string, spec map[string]any, status map[string]any) {
		t.Helper()
		u := object(kind, ns, name, spec)
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s: %v", kind, err)
		}
		if status != nil {
			u.Object["status"] = status
			if err := env.Client.Status().Update(ctx, u); err != nil {
				t.Fatalf("status %s: %v", kind, err)
			}
		}
	}
	create("ScheduledJob", "digest", spec("ScheduledJob", set("schedule", "0 9 * * 1"), set("timeZone", "Europe/Moscow"), set("suspend", true)),
		map[string]any{"phase": "Suspended", "scheduledAt": accepted.Format(time.RFC3339), "nextScheduleTime": next.Format(time.RFC3339)})
	create("ChatBot", "support", spec("ChatBot"), nil)
	create("Chat", "incidents", spec("Chat"), nil)
	create("ChatApp", "help", spec("ChatApp"), nil)
	create("BotCommand", "help", spec("BotCommand"), map[string]any{"commandId": 12})

	for _, tc := range []struct {
		name     string
		resource string
		object   string
		want     map[string]any
		order    []string
		// strings are columns kubectl must print as they are: a date column renders a
		// future time as <invalid>.
		strings []string
	}{
		{
			name:     "a ScheduledJob shows its Metabot, schedule and suspend like a CronJob, and a future next run as a time, not <invalid>",
			resource: "scheduledjobs", object: "digest",
			want: map[string]any{
				"Phase": "Suspended", "Metabot": "sales", "Schedule": "0 9 * * 1", "Suspend": true, "Time Zone": "Europe/Moscow",
				"Accepted At": accepted.Format(time.RFC3339), "Next Run": next.Format(time.RFC3339),
			},
			order:   []string{"Ready", "Reason", "Phase", "Metabot", "Schedule", "Suspend", "Time Zone", "Accepted At", "Next Run", "Age", "Message"},
			strings: []string{"Accepted At", "Next Run"},
		},
		{
			name: "a ChatBot shows its Portal", resource: "chatbots", object: "support",
			want: map[string]any{"Code": "support", "Portal": "acme"},
		},
		{
			name: "a Chat shows its bot and title", resource: "chats", object: "incidents",
			want: map[string]any{"Bot": "support", "Title": "Incidents"},
		},
		{
			name: "a ChatApp shows its bot", resource: "chatapps", object: "help",
			want: map[string]any{"Bot": "support"},
		},
		{
			name: "a BotCommand shows its command id, command and bot", resource: "botcommands", object: "help",
			want:  map[string]any{"Command ID": float64(12), "Command": "help", "Bot": "support"},
			order: []string{"Ready", "Reason", "Command ID", "Command", "Bot", "Bot ID", "Age", "Message"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols, cells, types := table(t, tc.resource, ns, tc.object)
			for _, c := range tc.strings {
				if types[c] != "string" {
					t.Errorf("column %q is a %s column, want string", c, types[c])
				}
			}
			for k, v := range tc.want {
				if cells[k] != v {
					t.Errorf("column %q = %#v, want %#v (columns %v)", k, cells[k], v, cols)
				}
			}
			if tc.order != nil && !slices.Equal(cols, append([]string{"Name"}, tc.order...)) {
				t.Errorf("columns %v, want Name then %v", cols, tc.order)
			}
		})
	}
}

// TestSelectableFields pins that the API server filters by reference: `kubectl get b24bot
// --field-selector spec.portalRef.name=acme`.
func TestSelectableFields(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "selectable")
	for _, o := range []struct {
		kind, name string
		muts       []mutation
	}{
		{"ChatBot", "on-acme", nil},
		{"ChatBot", "on-other", []mutation{set("portalRef.name", "other"), set("code", "other")}},
		{"Chat", "of-support", nil},
		{"Chat", "of-sales", []mutation{set("botRef.name", "sales")}},
		{"ChatApp", "of-support", nil},
		{"ChatApp", "of-sales", []mutation{set("botRef.name", "sales")}},
		{"BotCommand", "of-support", nil},
		{"BotCommand", "of-sales", []mutation{set("botRef.name", "sales")}},
		{"ScheduledJob", "in-sales", nil},
		{"ScheduledJob", "in-other", []mutation{set("metabotRef.name", "other")}},
	} {
		if err := env.Client.Create(ctx, object(o.kind, ns, o.name, spec(o.kind, o.muts...))); err != nil {
			t.Fatalf("create %s %s: %v", o.kind, o.name, err)
		}
	}
	for _, tc := range []struct {
		kind, field, value, want string
	}{
		{"ChatBot", "spec.portalRef.name", "acme", "on-acme"},
		{"Chat", "spec.botRef.name", "support", "of-support"},
		{"ChatApp", "spec.botRef.name", "sales", "of-sales"},
		{"BotCommand", "spec.botRef.name", "support", "of-support"},
		{"ScheduledJob", "spec.metabotRef.name", "other", "in-other"},
	} {
		t.Run(tc.kind+" by "+tc.field, func(t *testing.T) {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion("b24ops.io/v1alpha1")
			list.SetKind(tc.kind + "List")
			if err := env.Client.List(ctx, list, client.InNamespace(ns), client.MatchingFields{tc.field: tc.value}); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range list.Items {
				names = append(names, it.GetName())
			}
			if !slices.Equal(names, []string{tc.want}) {
				t.Fatalf("%s=%s selected %v, want [%s]", tc.field, tc.value, names, tc.want)
			}
		})
	}
}
