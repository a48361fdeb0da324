package controller_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// benchSize reads a benchmark size from the environment, else def.
func benchSize(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}

// Figures of the simulator's standard plan: a bucket of 50 requests draining 2 per second.
const (
	simBurst = 50
	simRate  = 2.0
)

// BenchmarkBigPortal measures one portal whose chats' drift checks need more requests per
// resync than its rate budget allows (B24OPS_BENCH_CHATS chats, default 2,000, on a 30s
// resync: 80 batch reads per pass where the budget is 54), against the simulator with its
// standard limits:
//
//   - cold-s: all chats from created to Ready; floor-s: the rate floor of the requests that
//     took, ceil(requests / 2 per second); cold/floor: their ratio.
//   - requests/resync: requests answered during one full drift pass; pass-s: how long until
//     every chat was read once more; writes/resync: API server writes by the manager in that
//     pass (0 at rest).
//   - new-chat-s: the slowest of B24OPS_BENCH_NEW_CHATS (default 3) Chats created one after
//     the other during the saturated drift pass, from create to Ready (target < 10s).
//   - 503s: requests the simulator's bucket refused.
//
// Cost: about 4 minutes and 1 GiB with the defaults on 2 cores; 10,000 chats take about 20
// minutes. Run it alone:
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go test ./internal/controller/ -run '^$' -bench BigPortal -benchtime 1x
func BenchmarkBigPortal(b *testing.B) {
	chats := benchSize(b, "B24OPS_BENCH_CHATS", 2000)
	newChats := benchSize(b, "B24OPS_BENCH_NEW_CHATS", 3)
	for i := 0; i < b.N; i++ {
		r := runBigPortal(b, chats, newChats)
		b.ReportMetric(r.cold.Seconds(), "cold-s")
		b.ReportMetric(r.floor.Seconds(), "floor-s")
		b.ReportMetric(r.cold.Seconds()/r.floor.Seconds(), "cold/floor")
		b.ReportMetric(float64(r.resyncRequests), "requests/resync")
		b.ReportMetric(r.pass.Seconds(), "pass-s")
		b.ReportMetric(float64(r.writes), "writes/resync")
		b.ReportMetric(r.newChat.Seconds(), "new-chat-s")
		b.ReportMetric(float64(r.refused), "503s")
		fmt.Printf("\n| %d chats, one portal (bucket %d, %g/s), resync 30s | value |\n|---|---|\n", chats, simBurst, simRate)
		rows := [][2]string{
			{"cold start to all Ready", fmt.Sprintf("%.1f s", r.cold.Seconds())},
			{"requests for the cold start", strconv.Itoa(r.createRequests)},
			{"rate floor ceil(requests / rate)", fmt.Sprintf("%.0f s", r.floor.Seconds())},
			{"cold start / floor", fmt.Sprintf("%.2f", r.cold.Seconds()/r.floor.Seconds())},
			{"requests per resync (one full pass)", strconv.Itoa(r.resyncRequests)},
			{"full drift pass", fmt.Sprintf("%.1f s", r.pass.Seconds())},
			{"API writes per resync", strconv.Itoa(r.writes)},
			{fmt.Sprintf("new Chat during the saturated pass, slowest of %d", newChats), fmt.Sprintf("%.1f s", r.newChat.Seconds())},
			{"503s", strconv.Itoa(r.refused)},
		}
		for _, row := range rows {
			fmt.Printf("| %s | %s |\n", row[0], row[1])
		}
	}
}

type bigPortalResult struct {
	cold, floor, pass, newChat              time.Duration
	createRequests, resyncRequests, refused int
	writes                                  int
}

func runBigPortal(b *testing.B, chats, newChats int) bigPortalResult {
	b.StopTimer()
	ctx := context.Background()
	sim := bitrixtest.NewServer() // the standard plan's bucket: 50, draining 2/s
	defer sim.Close()
	writes := &apiWrites{}
	stop := benchManagerWith(b, writes.client)
	ns, err := env.CreateNamespace(ctx, "bench-big-portal")
	if err != nil {
		b.Fatal(err)
	}
	purgeAfter(b, stop, ns)
	writes.watch(ns)

	webhookPortal(b, ns, "acme", "bench-bots", sim, func(p *b24v1.Portal) {
		p.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	})
	create(b, chatBot(ns, "support", "acme", "support"))
	eventually(b, 5*time.Minute, "the bot", func() (bool, string) {
		var bot b24v1.ChatBot
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "support"}, &bot)
		return bot.Status.BotID != 0, "no bot id"
	})
	ready := func(ch *b24v1.Chat) bool {
		c := meta.FindStatusCondition(ch.Status.Conditions, b24v1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue
	}

	var r bigPortalResult
	sim.ResetCalls()
	b.StartTimer()
	start := time.Now()
	inParallel(b, chats, func(i int) error {
		ch := groupChat(ns, fmt.Sprintf("chat-%05d", i), "support", 1, 2)
		ch.Spec.Color = ptr(b24v1.Color("GREEN"))
		return env.Client.Create(ctx, ch)
	})
	eventually(b, 30*time.Minute, "every chat Ready", func() (bool, string) {
		n := countChats(b, ns, ready)
		return n == chats, fmt.Sprintf("%d of %d Ready", n, chats)
	})
	r.cold = time.Since(start)
	b.StopTimer()
	var refused int
	r.createRequests, _, refused = requestsOf(sim)
	r.refused += refused
	r.floor = time.Duration(math.Ceil(float64(r.createRequests)/simRate)) * time.Second

	// One full drift pass: every chat read again, counting the requests and the writes.
	sim.ResetCalls()
	before := writes.count()
	passStart := time.Now()
	eventually(b, 30*time.Minute, "every chat checked again", func() (bool, string) {
		n := len(dialogReads(sim))
		return n >= chats, fmt.Sprintf("%d of %d checked again", n, chats)
	})
	r.pass = time.Since(passStart)
	r.writes = len(writes.since(before))
	r.resyncRequests, _, refused = requestsOf(sim)
	r.refused += refused
	b.Logf("resync: %s", callProfile(sim))

	// New chats while the next pass saturates the bucket.
	sim.ResetCalls()
	var lat []time.Duration
	for i := range newChats {
		ch := groupChat(ns, fmt.Sprintf("new-%02d", i), "support", 1, 2)
		t0 := time.Now()
		create(b, ch)
		eventually(b, 5*time.Minute, "the new chat Ready", func() (bool, string) {
			var got b24v1.Chat
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ch), &got); err != nil {
				return false, err.Error()
			}
			return ready(&got), "not Ready"
		})
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.newChat = lat[len(lat)-1]
	_, _, refused = requestsOf(sim)
	r.refused += refused
	return r
}
