package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

func TestChatBotRegistersAndReportsBotID(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	startManager(t, managerOpts{})
	ns := namespace(t)
	portal := webhookPortal(t, ns, "acme", "acme-bots", sim)
	bot := chatBot(ns, "support", "acme", "support")
	create(t, bot)

	waitReady(t, portal)
	waitReady(t, bot)
	if bot.Status.BotID == 0 {
		t.Fatal("status.botId not set")
	}
	bots := sim.Bots()
	if len(bots) != 1 || bots[0].Code != "support" || int64(bots[0].ID) != bot.Status.BotID {
		t.Fatalf("remote bots = %+v, want one with code support and id %d", bots, bot.Status.BotID)
	}
	eventually(t, 10*time.Second, "portal boundBots=1", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(portal), portal)
		return portal.Status.BoundBots == 1 && portal.Status.ApplicationKey != "", fmt.Sprintf("%+v", portal.Status)
	})
}
