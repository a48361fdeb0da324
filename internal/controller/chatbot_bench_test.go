package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// BenchmarkChatBotV2Resync100 registers 100 V2 bots on one Portal, waits until all are Ready,
// then counts the requests of one resync interval (30s here, plus the 10% jitter): the drift
// check of every bot reads the Portal's paged imbot.v2.Bot.list (2 pages of 50), shared by
// all of them, so the count stays at a few list reads plus the Portal's own constant calls,
// not one request per bot. Run it alone:
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go test ./internal/controller/ -run '^$' -bench ChatBotV2Resync100 -benchtime 1x
func BenchmarkChatBotV2Resync100(b *testing.B) {
	const bots = 100
	const resync = 30 * time.Second
	var requests, pages, perBot int
	for i := 0; i < b.N; i++ {
		r, p, o := runBotBench(b, bots, resync)
		requests, pages, perBot = requests+r, pages+p, perBot+o
	}
	n := float64(b.N)
	b.ReportMetric(float64(requests)/n, "requests/resync")
	b.ReportMetric(float64(pages)/n, "list-pages/resync")
	b.ReportMetric(float64(perBot)/n, "per-bot-requests/resync")
}

// runBotBench returns the requests of one resync window, how many were pages of Bot.list and
// how many addressed one bot (Bot.get, update, register).
func runBotBench(b *testing.B, bots int, resync time.Duration) (requests, pages, perBot int) {
	b.StopTimer()
	ctx := context.Background()
	sim := bitrixtest.NewServer(bitrixtest.WithoutRateLimit(), bitrixtest.WithMaxBotsV2PerApp(bots))
	defer sim.Close()
	stop := benchManager(b)
	ns, err := env.CreateNamespace(ctx, "bench-bots")
	if err != nil {
		b.Fatal(err)
	}
	purgeAfter(b, stop, ns)
	webhookPortal(b, ns, "acme", "bench-v2", sim, func(p *b24v1.Portal) {
		p.Spec.ResyncInterval = &metav1.Duration{Duration: resync}
		p.Spec.MaxBots = ptr(int32(bots))
		p.Spec.RateLimit = &b24v1.RateLimit{RequestsPerSecond: 50, Burst: 250}
	})
	inParallel(b, bots, func(i int) error {
		return env.Client.Create(ctx, chatBotV2(ns, fmt.Sprintf("bot-%03d", i), "acme", fmt.Sprintf("bench-%03d", i)))
	})
	eventually(b, 5*time.Minute, "every bot Ready", func() (bool, string) {
		var list b24v1.ChatBotList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		ready := 0
		for i := range list.Items {
			if c := meta.FindStatusCondition(list.Items[i].Status.Conditions, b24v1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
				ready++
			}
		}
		return ready == bots, fmt.Sprintf("%d of %d Ready", ready, bots)
	})
	if got := len(sim.Bots()); got != bots {
		b.Fatalf("%d remote bots, want %d", got, bots)
	}

	// One resync window: every bot's drift check comes due once in it.
	sim.ResetCalls()
	b.StartTimer()
	time.Sleep(resync + resync/10 + time.Second)
	b.StopTimer()
	for _, c := range sim.Calls() {
		requests++
		switch c.Method {
		case "imbot.v2.Bot.list":
			pages++
		case "imbot.v2.Bot.get", "imbot.v2.Bot.update", "imbot.v2.Bot.register", "imbot.v2.Bot.unregister":
			perBot++
		}
	}
	b.Logf("one resync of %d V2 bots: %s", bots, callProfile(sim))
	if perBot > 0 || requests >= bots/2 {
		b.Fatalf("one resync of %d bots cost %d requests, %d of them per bot: want only the paged list and the Portal's own calls", bots, requests, perBot)
	}
	return requests, pages, perBot
}
