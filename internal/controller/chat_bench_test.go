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

// BenchmarkChatResync1000 creates 1,000 Chats of one bot against the simulator with its
// standard rate limit (a bucket of 50 requests draining 2 per second), waits until all are
// Ready, then lets one resync interval (30s here) pass and counts what the drift check of all
// 1,000 chats cost. Run it alone:
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go test ./internal/controller/ -run '^$' -bench ChatResync1000 -benchtime 1x
func BenchmarkChatResync1000(b *testing.B) {
	const chats = 1000
	var sum chatBenchResult
	for i := 0; i < b.N; i++ {
		r := runChatBench(b, chats)
		sum.createRequests += r.createRequests
		sum.resyncRequests += r.resyncRequests
		sum.resyncCommands += r.resyncCommands
		sum.refused += r.refused
		sum.toReady += r.toReady
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.resyncRequests)/n, "requests/resync")
	b.ReportMetric(float64(sum.resyncCommands)/n, "commands/resync")
	b.ReportMetric(float64(sum.createRequests)/n, "requests/create")
	b.ReportMetric(sum.toReady.Seconds()/n, "s-to-ready")
	b.ReportMetric(float64(sum.refused)/n, "503s")
}

type chatBenchResult struct {
	createRequests, resyncRequests, resyncCommands, refused int
	toReady                                                 time.Duration
}

func runChatBench(b *testing.B, chats int) chatBenchResult {
	b.StopTimer()
	ctx := context.Background()
	sim := bitrixtest.NewServer() // the standard plan's bucket: 50, draining 2/s
	defer sim.Close()
	stop := benchManager(b)
	ns, err := env.CreateNamespace(ctx, "bench-chats")
	if err != nil {
		b.Fatal(err)
	}
	purgeAfter(b, stop, ns)

	webhookPortal(b, ns, "acme", "bench-bots", sim, func(p *b24v1.Portal) {
		p.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	})
	create(b, chatBot(ns, "support", "acme", "support"))
	eventually(b, 5*time.Minute, "the bot", func() (bool, string) {
		var bot b24v1.ChatBot
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "support"}, &bot)
		return bot.Status.BotID != 0, "no bot id"
	})

	var r chatBenchResult
	sim.ResetCalls()
	b.StartTimer()
	start := time.Now()
	inParallel(b, chats, func(i int) error {
		ch := groupChat(ns, fmt.Sprintf("chat-%04d", i), "support", 1, 2)
		ch.Spec.Color = ptr(b24v1.Color("GREEN"))
		return env.Client.Create(ctx, ch)
	})
	eventually(b, 5*time.Minute, "every chat Ready", func() (bool, string) {
		n := countChats(b, ns, func(ch *b24v1.Chat) bool {
			c := meta.FindStatusCondition(ch.Status.Conditions, b24v1.ConditionReady)
			return c != nil && c.Status == metav1.ConditionTrue
		})
		return n == chats, fmt.Sprintf("%d of %d Ready", n, chats)
	})
	r.toReady = time.Since(start)
	b.StopTimer()
	r.createRequests, _, r.refused = requestsOf(sim)
	b.Logf("create: %s", callProfile(sim))
	if got := len(sim.Chats()); got != chats {
		b.Fatalf("%d remote chats, want %d", got, chats)
	}

	// The next drift check of every chat, a resync interval after its last one. Each chat is
	// checked once in this window: the one after comes 30s later.
	sim.ResetCalls()
	eventually(b, 5*time.Minute, "every chat checked again", func() (bool, string) {
		n := len(dialogReads(sim))
		return n >= chats, fmt.Sprintf("%d of %d checked again", n, chats)
	})
	var refused int
	r.resyncRequests, r.resyncCommands, refused = requestsOf(sim)
	r.refused += refused
	b.Logf("resync: %s", callProfile(sim))
	if w := writeCalls(sim); len(w) != 0 {
		b.Fatalf("the resync of chats in sync wrote %d times: %v", len(w), w[:min(5, len(w))])
	}
	return r
}

// requestsOf counts the HTTP requests the simulator answered (a batch is one), the commands
// that ran inside batches, and the requests the bucket refused.
func requestsOf(sim *bitrixtest.Server) (requests, commands, refused int) {
	for _, c := range sim.Calls() {
		switch {
		case c.BatchKey != "":
			commands++
		case c.ErrorCode == "QUERY_LIMIT_EXCEEDED":
			refused++
			requests++
		default:
			requests++
		}
	}
	return requests, commands, refused
}

func countChats(b *testing.B, ns string, ok func(*b24v1.Chat) bool) int {
	var list b24v1.ChatList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	n := 0
	for i := range list.Items {
		if ok(&list.Items[i]) {
			n++
		}
	}
	return n
}

// callProfile summarises the calls by method and how full the batches were.
func callProfile(sim *bitrixtest.Server) string {
	methods := map[string]int{}
	batches, commands := 0, 0
	for _, c := range sim.Calls() {
		methods[c.Method]++
		switch {
		case c.BatchKey != "":
			commands++
		case c.Method == "batch":
			batches++
		}
	}
	return fmt.Sprintf("%d batches, %.1f commands each on average; calls by method %v", batches, float64(commands)/float64(max(batches, 1)), methods)
}
