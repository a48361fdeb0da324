package controller_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
)

// writers records, per shard, the b24ops.io objects a manager wrote (finalizer and status
// patches): what it reconciled.
type writers struct {
	mu      sync.Mutex
	written map[string]map[string]bool
}

func (w *writers) client(shard string) func(client.Client) client.Client {
	note := func(obj client.Object) {
		if _, ok := obj.(controllerObject); !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.written[shard] == nil {
			w.written[shard] = map[string]bool{}
		}
		w.written[shard][fmt.Sprintf("%T %s", obj, obj.GetName())] = true
	}
	return func(c client.Client) client.Client {
		return interceptor.NewClient(watchless{c}, interceptor.Funcs{
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				note(obj)
				return c.Patch(ctx, obj, patch, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				note(obj)
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		})
	}
}

func (w *writers) of(shard string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k := range w.written[shard] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Two shards (two managers with different --watch-label-selector) against one API server:
// each object is reconciled by exactly one of them, and each shard keeps the rate budget of
// its own portal (one simulator per portal host, with a small bucket: no 503).
func TestShardsSplitTheObjects(t *testing.T) {
	const burst, perSecond = 10, 2
	w := &writers{written: map[string]map[string]bool{}}
	ns := namespace(t)
	var stops []func()
	for _, shard := range []string{"a", "b"} {
		_, stop := startManager(t, managerOpts{shard: labels.SelectorFromSet(labels.Set{"b24ops.io/shard": shard}), newClient: w.client(shard)})
		stops = append(stops, stop)
	}
	purgeAfter(t, func() {
		for _, s := range stops {
			s()
		}
	}, ns)

	want := map[string][]string{}
	sims := map[string]*bitrixtest.Server{}
	var all []controllerObject
	for _, shard := range []string{"a", "b"} {
		sim := bitrixtest.NewServer(bitrixtest.WithRateLimit(burst, perSecond))
		t.Cleanup(sim.Close)
		sims[shard] = sim
		label := func(o client.Object) client.Object {
			o.SetLabels(map[string]string{"b24ops.io/shard": shard})
			return o
		}
		portal := webhookPortal(t, ns, "portal-"+shard, "bots", sim, func(p *b24v1.Portal) {
			label(p)
			p.Spec.RateLimit = &b24v1.RateLimit{RequestsPerSecond: perSecond, Burst: burst}
		})
		bot := chatBot(ns, "bot-"+shard, portal.Name, "bot"+shard)
		objs := []controllerObject{portal, bot}
		for i := range 6 {
			objs = append(objs, groupChat(ns, fmt.Sprintf("chat-%s-%d", shard, i), bot.Name, 1))
		}
		for _, o := range objs[1:] {
			create(t, label(o))
		}
		for _, o := range objs {
			want[shard] = append(want[shard], fmt.Sprintf("%T %s", o, o.GetName()))
		}
		sort.Strings(want[shard])
		all = append(all, objs...)
	}
	for _, o := range all {
		waitReason(t, o, metav1.ConditionTrue, b24v1.ReasonSucceeded, 60*time.Second)
	}
	// A drift check of everything, then every object has been handled by its shard.
	for _, o := range all {
		forceReconcile(t, o)
	}
	for _, shard := range []string{"a", "b"} {
		got := w.of(shard)
		if fmt.Sprint(got) != fmt.Sprint(want[shard]) {
			t.Errorf("shard %s wrote %v, want exactly its own objects %v", shard, got, want[shard])
		}
		if n := sims[shard].Count503(); n != 0 {
			t.Errorf("the portal of shard %s refused %d requests with QUERY_LIMIT_EXCEEDED", shard, n)
		}
	}
}
