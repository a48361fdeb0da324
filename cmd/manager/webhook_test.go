package main

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/testenv"
	b24webhook "github.com/b24ops/b24-operator/internal/webhook"
)

// A sharded manager's admission reads a cache of every shard: the bot limit and codes span
// them. Its own cache holds only its shard; the webhook's holds the others too, and answers
// through the webhook's field indexes.
func TestShardedWebhookCacheSeesEveryShard(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)

	const ns = "default"
	handler, name := b24v1.HTTPSURL("https://bots.example.com/events"), "Support"
	other := &b24v1.ChatBot{
		ObjectMeta: metav1.ObjectMeta{Name: "other-shard", Namespace: ns, Labels: map[string]string{"b24ops.io/shard": "b"}},
		Spec: b24v1.ChatBotSpec{PortalRef: b24v1.LocalObjectReference{Name: "acme"}, Code: "support",
			EventHandler: &handler, Properties: b24v1.BotProperties{Name: &name}},
	}
	if err := env.Client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}

	shard, err := labels.Parse("b24ops.io/shard=a")
	if err != nil {
		t.Fatal(err)
	}
	copts := cacheOptions(time.Hour, nil, shard, nil)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: testenv.Scheme, Cache: copts, Client: clientOptions(),
		Metrics: metricsServerOptions("0", false), HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	wc, err := webhookCache(mgr, copts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b24webhook.Indexes(ctx, wc); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.GetCache().GetInformer(ctx, &b24v1.ChatBot{}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) || !wc.WaitForCacheSync(ctx) {
		t.Fatal("caches did not sync")
	}

	var own b24v1.ChatBotList
	if err := mgr.GetCache().List(ctx, &own); err != nil || len(own.Items) != 0 {
		t.Fatalf("the shard's own cache holds %d ChatBots of another shard (%v)", len(own.Items), err)
	}
	var byCode b24v1.ChatBotList
	if err := wc.List(ctx, &byCode, client.MatchingFields{refs.IndexCode: "support"}); err != nil {
		t.Fatal(err)
	}
	if len(byCode.Items) != 1 || byCode.Items[0].Name != other.Name {
		t.Fatalf("the webhook's cache finds %d ChatBots with code support, want the other shard's one", len(byCode.Items))
	}

	// Unsharded, admission shares the manager's cache and the indexes the controllers
	// registered on it (refs.Register skips a second registration instead of failing).
	mgr2, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: testenv.Scheme, Cache: cacheOptions(time.Hour, nil, nil, nil), Client: clientOptions(),
		Metrics: metricsServerOptions("0", false), HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.Setup(mgr2, controller.Options{SkipNameValidation: true}); err != nil {
		t.Fatal(err)
	}
	if err := b24webhook.Setup(mgr2); err != nil {
		t.Fatalf("the webhook on the controllers' manager: %v", err)
	}
}
