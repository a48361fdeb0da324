package bitrix_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// A controller builds one client per Portal, sharing one limiter per portal host, and
// classifies failures with the helpers instead of comparing strings.
func Example() {
	srv := bitrixtest.NewServer()
	defer srv.Close()
	hook := srv.AddWebhook(1, "xxxx") // what the Portal's Secret holds as webhookURL

	limiter := bitrix.NewLimiter(2, 50) // one per portal host, shared by its clients
	c, err := bitrix.New(
		bitrix.WithWebhook(hook, "acme-bots"),
		bitrix.WithCABundle(srv.CAPEM()),
		bitrix.WithLimiter(limiter),
		bitrix.WithPortalLabel("acme.bitrix24.ru"),
	)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	botID, err := c.Register(ctx, bitrix.BotParams{
		Code:         "support",
		EventHandler: "https://bots.acme.ru/b24/events",
		Properties:   bitrix.BotProperties{Name: "Support", Color: "GREEN"},
	})
	fmt.Println(botID, err)

	// Create a chat only when the lookup finds none: chat.add is not idempotent.
	chatID, found, _ := c.ChatGet(ctx, botID, "B24OPS", "team-a/incidents")
	if !found {
		chatID, err = c.ChatAdd(ctx, bitrix.ChatAddParams{
			BotID: botID, Title: "Incidents", Color: "RED", Users: []int{1},
			EntityType: "B24OPS", EntityID: "team-a/incidents",
		})
		if bitrix.IsAmbiguous(err) {
			// The chat may exist: the next reconcile looks it up again before adding.
			return
		}
	}
	d, _ := c.DialogGet(ctx, botID, chatID)
	want, _ := bitrix.ColorHex("RED")
	fmt.Println(d.Name, d.Color == want)

	err = c.Unregister(ctx, botID)
	fmt.Println(err)
	err = c.Unregister(ctx, botID)
	fmt.Println(bitrix.IsGone(err), errors.Is(err, bitrix.ErrBotNotFound))
	// Output:
	// 100 <nil>
	// Incidents true
	// <nil>
	// true true
}
