package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// TestStateCollector pins what the state metrics report, read from a real informer cache over
// a real API server.
func TestStateCollector(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := env.Client

	for _, ns := range []string{"team-a", "team-b"} {
		mustDo(t, c.Create(ctx, namespace(ns)))
	}
	old := metav1.NewTime(time.Unix(1_700_000_000, 0))
	recent := metav1.NewTime(time.Unix(1_800_000_000, 0))
	ready := func(status metav1.ConditionStatus, reason string, at metav1.Time) []metav1.Condition {
		return []metav1.Condition{{Type: b24v1.ConditionReady, Status: status, Reason: reason, Message: "m", LastTransitionTime: at}}
	}

	// Two Portals of one application (different namespaces, different maxBots), one of another.
	portal := func(ns, name, app string, maxBots *int32, conds []metav1.Condition) {
		p := &b24v1.Portal{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: b24v1.PortalSpec{
				URL:     "https://acme.bitrix24.ru",
				Auth:    b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: "bots", SecretRef: b24v1.LocalObjectReference{Name: "hook"}}},
				MaxBots: maxBots,
			},
		}
		mustDo(t, c.Create(ctx, p))
		p.Status.ApplicationKey = app
		p.Status.Conditions = conds
		mustDo(t, c.Status().Update(ctx, p))
	}
	portal("team-a", "acme", "acme.bitrix24.ru/bots", nil, ready(metav1.ConditionTrue, b24v1.ReasonSucceeded, old))
	portal("team-b", "acme", "acme.bitrix24.ru/bots", ptr.To[int32](3), ready(metav1.ConditionTrue, b24v1.ReasonSucceeded, old))
	portal("team-b", "other", "other.bitrix24.ru/app", nil, ready(metav1.ConditionFalse, b24v1.ReasonAuthFailed, recent))

	bot := func(ns, name, app string, id int64, conds []metav1.Condition) {
		b := &b24v1.ChatBot{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: b24v1.ChatBotSpec{
				PortalRef:    b24v1.LocalObjectReference{Name: "acme"},
				Code:         name,
				EventHandler: ptr.To(b24v1.HTTPSURL("https://bots.example/events")),
				Properties:   b24v1.BotProperties{Name: ptr.To("Bot")},
			},
		}
		mustDo(t, c.Create(ctx, b))
		if conds == nil {
			return
		}
		b.Status.ApplicationKey, b.Status.BotID, b.Status.Conditions = app, id, conds
		mustDo(t, c.Status().Update(ctx, b))
	}
	bot("team-a", "support", "acme.bitrix24.ru/bots", 100, ready(metav1.ConditionTrue, b24v1.ReasonSucceeded, old))
	bot("team-b", "sales", "acme.bitrix24.ru/bots", 101, ready(metav1.ConditionTrue, b24v1.ReasonSucceeded, old))
	// Not registered: counts as an object, not as a used bot.
	bot("team-a", "extra1", "", 0, ready(metav1.ConditionFalse, b24v1.ReasonBotLimitExceeded, recent))
	bot("team-a", "extra2", "", 0, ready(metav1.ConditionFalse, b24v1.ReasonBotLimitExceeded, old))
	// A reason this version does not know is reported as Other, never verbatim.
	bot("team-a", "future", "", 0, ready(metav1.ConditionFalse, "SomethingNew", recent))
	// Never reconciled: no Ready condition.
	bot("team-b", "fresh", "", 0, nil)

	ch, err := cache.New(env.Config, cache.Options{Scheme: testenv.Scheme})
	mustDo(t, err)
	go func() { _ = ch.Start(ctx) }()
	if !ch.WaitForCacheSync(ctx) {
		t.Fatal("cache never synced")
	}

	elected := make(chan struct{})
	col := NewStateCollector(ch, elected)
	names := []string{"b24ops_objects", "b24ops_objects_not_ready_since_timestamp_seconds", "b24ops_application_bots", "b24ops_application_max_bots"}

	t.Run("a replica that does not lead reports nothing", func(t *testing.T) {
		if n := testutil.CollectAndCount(col); n != 0 {
			t.Fatalf("%d series before election", n)
		}
	})
	close(elected)

	want := fmt.Sprintf(`
# HELP b24ops_application_bots ChatBots registered in a Bitrix24 application (host/client id), across namespaces and Portals.
# TYPE b24ops_application_bots gauge
b24ops_application_bots{application="acme.bitrix24.ru/bots"} 2
b24ops_application_bots{application="other.bitrix24.ru/app"} 0
# HELP b24ops_application_max_bots The smallest maxBots of the Portals of a Bitrix24 application (host/client id).
# TYPE b24ops_application_max_bots gauge
b24ops_application_max_bots{application="acme.bitrix24.ru/bots"} 3
b24ops_application_max_bots{application="other.bitrix24.ru/app"} 5
# HELP b24ops_objects Objects by kind, namespace, Ready status (True, False, Unknown) and Ready reason.
# TYPE b24ops_objects gauge
b24ops_objects{kind="ChatBot",namespace="team-a",ready="False",reason="BotLimitExceeded"} 2
b24ops_objects{kind="ChatBot",namespace="team-a",ready="False",reason="Other"} 1
b24ops_objects{kind="ChatBot",namespace="team-a",ready="True",reason="Succeeded"} 1
b24ops_objects{kind="ChatBot",namespace="team-b",ready="True",reason="Succeeded"} 1
b24ops_objects{kind="ChatBot",namespace="team-b",ready="Unknown",reason="None"} 1
b24ops_objects{kind="Portal",namespace="team-a",ready="True",reason="Succeeded"} 1
b24ops_objects{kind="Portal",namespace="team-b",ready="False",reason="AuthFailed"} 1
b24ops_objects{kind="Portal",namespace="team-b",ready="True",reason="Succeeded"} 1
# HELP b24ops_objects_not_ready_since_timestamp_seconds %s
# TYPE b24ops_objects_not_ready_since_timestamp_seconds gauge
b24ops_objects_not_ready_since_timestamp_seconds{kind="ChatBot",namespace="team-a",reason="BotLimitExceeded"} %d
b24ops_objects_not_ready_since_timestamp_seconds{kind="ChatBot",namespace="team-a",reason="Other"} %d
b24ops_objects_not_ready_since_timestamp_seconds{kind="Portal",namespace="team-b",reason="AuthFailed"} %d
`, helpOf(notReadySinceDesc), old.Unix(), recent.Unix(), recent.Unix())

	t.Run("the leader reports counts by kind, namespace and reason, the oldest not-Ready transition and the bot quota per application", func(t *testing.T) {
		// The cache follows the API server; wait until it shows every write above.
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := testutil.CollectAndCompare(col, strings.NewReader(want), names...)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("every kind is listed without error", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("# HELP b24ops_state_list_errors " + helpOf(listErrorsDesc) + "\n# TYPE b24ops_state_list_errors gauge\n")
		for _, k := range Kinds {
			fmt.Fprintf(&b, "b24ops_state_list_errors{kind=%q} 0\n", k.Name)
		}
		if err := testutil.CollectAndCompare(col, strings.NewReader(b.String()), "b24ops_state_list_errors"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("it registers beside the cron counters", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		mustDo(t, Register(reg, col))
		mustDo(t, Register(reg, col))
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	})
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
