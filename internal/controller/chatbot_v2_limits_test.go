package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// waitReadyWithin is waitReady with a longer timeout (a portal that throttles).
func waitReadyWithin(t *testing.T, obj controllerObject, timeout time.Duration) {
	t.Helper()
	waitReason(t, obj, metav1.ConditionTrue, b24v1.ReasonSucceeded, timeout)
}

func TestChatBotV2Limits(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	run := subtests(t, managerOpts{})

	cases := []struct {
		name string
		run  func(t *testing.T, ns string)
	}{
		{"V2 bots keep the default limit of 5: the sixth stalls with BotLimitExceeded and is not registered", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-default-limit", sim)
			var held []*b24v1.ChatBot
			for i := range 5 {
				b := chatBotV2(ns, fmt.Sprintf("bot-%d", i), "acme", fmt.Sprintf("deflimit-%d", i))
				create(t, b)
				held = append(held, b)
			}
			for _, b := range held {
				waitReady(t, b)
			}
			sixth := chatBotV2(ns, "bot-5", "acme", "deflimit-5")
			create(t, sixth)
			assertStalled(t, sixth, b24v1.ReasonBotLimitExceeded)
			if msg := readyMessage(sixth); !strings.Contains(msg, "allows 5 bots") {
				t.Errorf("message %q does not name the limit of 5", msg)
			}
			if _, ok := remoteBot(sim, "deflimit-5"); ok {
				t.Error("the bot over the limit was registered")
			}
		}},
		{"V1 bots keep the default limit of 5 in the controller: the sixth stalls, V2 and V1 bots count together", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v1-default-limit", sim)
			var held []*b24v1.ChatBot
			for i := range 5 {
				b := chatBot(ns, fmt.Sprintf("bot-%d", i), "acme", fmt.Sprintf("v1limit-%d", i))
				if i == 4 {
					b = chatBotV2(ns, b.Name, "acme", b.Spec.Code)
				}
				create(t, b)
				held = append(held, b)
			}
			for _, b := range held {
				waitReady(t, b)
			}
			sixth := chatBot(ns, "bot-5", "acme", "v1limit-5")
			create(t, sixth)
			assertStalled(t, sixth, b24v1.ReasonBotLimitExceeded)
			if _, ok := remoteBot(sim, "v1limit-5"); ok {
				t.Error("the bot over the limit was registered")
			}
		}},
		{"a V2 application may raise maxBots past V1's 5", func(t *testing.T, ns string) {
			webhookPortal(t, ns, "acme", "v2-raised-limit", sim, func(p *b24v1.Portal) { p.Spec.MaxBots = ptr(int32(7)) })
			var bots []*b24v1.ChatBot
			for i := range 7 {
				b := chatBotV2(ns, fmt.Sprintf("bot-%d", i), "acme", fmt.Sprintf("raised-%d", i))
				create(t, b)
				bots = append(bots, b)
			}
			for _, b := range bots {
				waitReady(t, b)
				if b.Status.API != b24v1.BotAPIV2 {
					t.Errorf("%s: status.api %q, want V2", b.Name, b.Status.API)
				}
			}
		}},
	}
	for _, tc := range cases {
		run(tc.name, tc.run)
	}
}

// A portal answering HTTP 429 to every request over its bucket (as the imbot.v2 pages
// document): every bot ends Ready, each registered once.
func TestChatBotV2RateLimitStormEndsReadyWithoutDuplicates(t *testing.T) {
	sim := bitrixtest.NewServer(bitrixtest.WithRateLimitStatus(429), bitrixtest.WithRateLimit(4, 4))
	defer sim.Close()
	ns, _, _ := startTest(t, managerOpts{})
	const n = 8
	webhookPortal(t, ns, "acme", "v2-storm", sim, func(p *b24v1.Portal) {
		p.Spec.MaxBots = ptr(int32(n))
		// The client's own bucket lets far more through than the portal's.
		p.Spec.RateLimit = &b24v1.RateLimit{RequestsPerSecond: 50, Burst: 100}
	})
	var bots []*b24v1.ChatBot
	for i := range n {
		b := chatBotV2(ns, fmt.Sprintf("bot-%d", i), "acme", fmt.Sprintf("storm-%d", i))
		if i%2 == 1 {
			b.Spec.EventHandler = nil // fetch mode
		}
		create(t, b)
		bots = append(bots, b)
	}
	for _, b := range bots {
		waitReadyWithin(t, b, 90*time.Second)
	}
	refused := 0
	for _, c := range sim.Calls() {
		if c.Status == 429 {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("the portal refused nothing with 429: the test did not storm")
	}
	codes := map[string]int{}
	for _, rb := range sim.Bots() {
		codes[rb.Code]++
	}
	if len(codes) != n || len(sim.Bots()) != n {
		t.Fatalf("remote bots by code %v, want each of the %d codes once", codes, n)
	}
	for _, b := range bots {
		if rb, _ := remoteBot(sim, b.Spec.Code); int64(rb.ID) != reload(t, b).Status.BotID || rb.API != bitrixtest.APIV2 {
			t.Errorf("%s: remote %+v, status.botId %d", b.Name, rb, b.Status.BotID)
		}
	}
	t.Logf("%d requests refused with 429", refused)
	if n := sim.EventGetCount(); n != 0 {
		t.Errorf("the operator called imbot.v2.Event.get %d times", n)
	}
}
