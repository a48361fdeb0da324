package bitrix_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// BenchmarkV2DriftRead100Bots measures what the drift read of 100 v2 bots with two commands
// each costs in HTTP requests: the paged Bot.list (2 pages of 50) plus Command.list of every
// bot, batched 50 per request where the portal runs imbot.v2 inside batch (2 requests), one per
// bot where it does not. It is the page count, not one request per bot, when batch works.
//
//	go test ./internal/bitrix/ -run '^$' -bench V2DriftRead100Bots -benchtime 1x
func BenchmarkV2DriftRead100Bots(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []bitrixtest.Option
	}{
		{name: "batch"},
		{name: "no-v2-batch", opts: []bitrixtest.Option{bitrixtest.WithoutV2Batch()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const bots = 100
			srv := bitrixtest.NewServer(append([]bitrixtest.Option{bitrixtest.WithoutRateLimit()}, tc.opts...)...)
			defer srv.Close()
			c, err := bitrix.New(bitrix.WithWebhook(srv.AddWebhook(1, webhookCode), clientID), bitrix.WithCABundle(srv.CAPEM()),
				bitrix.WithRateLimit(10000, 10000), bitrix.WithRetries(3, time.Millisecond, 5*time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			ids := make([]int, 0, bots)
			for i := range bots {
				bot, err := c.RegisterV2(ctx, v2Params(fmt.Sprintf("bot%03d", i)))
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, bot.ID)
				for _, cmd := range []string{"help", "status"} {
					if _, err := c.CommandRegisterV2(ctx, bot.ID, bitrix.CommandV2Params{Command: cmd, Title: map[string]string{"en": cmd}}); err != nil {
						b.Fatal(err)
					}
				}
			}
			requests := 0
			b.ResetTimer()
			for range b.N {
				srv.ResetCalls()
				listed, err := c.ListBotsV2(ctx, "")
				if err != nil || len(listed) != bots {
					b.Fatalf("listed %d bots: %v", len(listed), err)
				}
				cmds, err := c.ListCommandsV2(ctx, ids)
				if err != nil || len(cmds) != bots {
					b.Fatalf("commands of %d bots: %v", len(cmds), err)
				}
				for _, call := range srv.Calls() {
					if call.BatchKey == "" {
						requests++
					}
				}
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/read")
		})
	}
}
