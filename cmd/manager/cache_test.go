package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/testenv"
)

func TestStripForCache(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	cases := []struct {
		name            string
		in              client.Object
		wantAnnotations map[string]string
	}{
		{
			name: "managedFields and last-applied go, other annotations stay",
			in: &b24v1.Chat{ObjectMeta: metav1.ObjectMeta{Name: "a", ManagedFields: managed, Annotations: map[string]string{
				lastAppliedAnnotation: `{"spec":{}}`, "b24ops.io/reconcile-requested-at": "now",
			}}},
			wantAnnotations: map[string]string{"b24ops.io/reconcile-requested-at": "now"},
		},
		{
			name: "an object left with no annotation has none",
			in: &b24v1.ScheduledJob{ObjectMeta: metav1.ObjectMeta{Name: "a", ManagedFields: managed, Annotations: map[string]string{
				lastAppliedAnnotation: `{}`,
			}}},
		},
		{
			name: "metadata-only objects are stripped too",
			in: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "s", ManagedFields: managed, Annotations: map[string]string{
				lastAppliedAnnotation: `{}`, "keep": "me",
			}}},
			wantAnnotations: map[string]string{"keep": "me"},
		},
		{
			name:            "an object without either is unchanged",
			in:              &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Annotations: map[string]string{"keep": "me"}}},
			wantAnnotations: map[string]string{"keep": "me"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := stripForCache(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			o := out.(client.Object)
			if len(o.GetManagedFields()) != 0 {
				t.Errorf("managedFields kept: %v", o.GetManagedFields())
			}
			if got := o.GetAnnotations(); !equalMaps(got, tc.wantAnnotations) {
				t.Errorf("annotations = %v, want %v", got, tc.wantAnnotations)
			}
		})
	}

	t.Run("a tombstone passes unchanged", func(t *testing.T) {
		tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/a"}
		out, err := stripForCache(tomb)
		if err != nil || out != tomb {
			t.Fatalf("got %v, %v", out, err)
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestManagerCache pins against a real API server what the manager keeps in memory: the
// b24ops objects without managedFields or the last-applied annotation, and no Secret or
// ConfigMap read through its client ever from an informer.
func TestManagerCache(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)

	copts := cacheOptions(time.Hour, nil, nil, nil)
	// A read through the cache of a kind with no informer fails instead of starting one, so a
	// Secret or ConfigMap read below that went to the cache would fail.
	copts.ReaderFailOnMissingInformer = true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: testenv.Scheme, Cache: copts, Client: clientOptions(),
		Metrics: metricsServerOptions("0", false), HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "default"
	applied := map[string]string{lastAppliedAnnotation: `{"apiVersion":"b24ops.io/v1alpha1"}`, "team": "a"}
	chat := &b24v1.Chat{
		ObjectMeta: metav1.ObjectMeta{Name: "incidents", Namespace: ns, Annotations: applied},
		Spec:       b24v1.ChatSpec{BotRef: b24v1.LocalObjectReference{Name: "support"}},
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns, Annotations: applied}, StringData: map[string]string{"k": "v"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "avatar", Namespace: ns}, Data: map[string]string{"k": "v"}}
	for _, o := range []client.Object{chat, sec, cm} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := mgr.GetCache().GetInformer(ctx, &b24v1.Chat{}); err != nil {
		t.Fatal(err)
	}
	secretMeta := &metav1.PartialObjectMetadata{}
	secretMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if _, err := mgr.GetCache().GetInformer(ctx, secretMeta); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.GetCache().Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}

	var live b24v1.Chat
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(chat), &live); err != nil {
		t.Fatal(err)
	}
	if len(live.ManagedFields) == 0 || live.Annotations[lastAppliedAnnotation] == "" {
		t.Fatalf("the API server should hold managedFields and the annotation: %+v", live.ObjectMeta)
	}

	var cached b24v1.Chat
	if err := mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(chat), &cached); err != nil {
		t.Fatal(err)
	}
	if len(cached.ManagedFields) != 0 || !equalMaps(cached.Annotations, map[string]string{"team": "a"}) {
		t.Errorf("cached Chat keeps %d managedFields and annotations %v", len(cached.ManagedFields), cached.Annotations)
	}
	cachedMeta := &metav1.PartialObjectMetadata{}
	cachedMeta.SetGroupVersionKind(secretMeta.GroupVersionKind())
	if err := mgr.GetCache().Get(ctx, client.ObjectKeyFromObject(sec), cachedMeta); err != nil {
		t.Fatal(err)
	}
	if len(cachedMeta.ManagedFields) != 0 || !equalMaps(cachedMeta.Annotations, map[string]string{"team": "a"}) {
		t.Errorf("cached Secret metadata keeps %d managedFields and annotations %v", len(cachedMeta.ManagedFields), cachedMeta.Annotations)
	}

	// Typed reads of Secrets and ConfigMaps go to the API server, with their content.
	var gotSecret corev1.Secret
	if err := mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(sec), &gotSecret); err != nil || string(gotSecret.Data["k"]) != "v" {
		t.Errorf("typed Secret read: %v, data %v", err, gotSecret.Data)
	}
	var gotCM corev1.ConfigMap
	if err := mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(cm), &gotCM); err != nil || gotCM.Data["k"] != "v" {
		t.Errorf("typed ConfigMap read: %v, data %v", err, gotCM.Data)
	}
	var cms corev1.ConfigMapList
	if err := mgr.GetClient().List(ctx, &cms, client.InNamespace(ns)); err != nil {
		t.Errorf("typed ConfigMap list: %v", err)
	}
	// The same read of a cached kind with no informer does fail: the check above can fail.
	var job b24v1.ScheduledJob
	err = mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: ns, Name: "none"}, &job)
	var notCached *cache.ErrResourceNotCached
	if !errors.As(err, &notCached) {
		t.Errorf("read of an uncached kind: %v, want ErrResourceNotCached", err)
	}
}

// TestShardsSplitObjects pins --watch-label-selector against a real API server: two shards see
// disjoint sets of the b24ops.io objects that together are all the labelled ones, both see the
// Secrets those objects name, and each elects its own leader.
func TestShardsSplitObjects(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)

	const ns = "default"
	want := map[string][]string{}
	for i := 0; i < 6; i++ {
		shard := []string{"a", "b", "c"}[i%3]
		chat := &b24v1.Chat{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("chat-%d", i), Namespace: ns, Labels: map[string]string{"b24ops.io/shard": shard}},
			Spec:       b24v1.ChatSpec{BotRef: b24v1.LocalObjectReference{Name: "support"}},
		}
		if err := env.Client.Create(ctx, chat); err != nil {
			t.Fatal(err)
		}
		want[shard] = append(want[shard], chat.Name)
	}
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}

	ids := map[string]string{}
	for _, shard := range []string{"a", "b"} {
		sel, err := labels.Parse("b24ops.io/shard=" + shard)
		if err != nil {
			t.Fatal(err)
		}
		ids[leaderElectionID(sel)] = shard
		opts := cacheOptions(time.Hour, nil, sel, nil)
		opts.Scheme = testenv.Scheme
		c, err := cache.New(env.Config, opts)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = c.Start(ctx) }()
		if !c.WaitForCacheSync(ctx) {
			t.Fatal("cache did not start")
		}
		var chats b24v1.ChatList
		if err := c.List(ctx, &chats); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range chats.Items {
			got = append(got, ch.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[shard]) {
			t.Errorf("shard %s caches Chats %v, want %v", shard, got, want[shard])
		}
		secret := &metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "creds"}, secret); err != nil {
			t.Errorf("shard %s does not see the unlabelled Secret: %v", shard, err)
		}
	}
	if len(ids) != 2 || ids[leaderElectionID(labels.Everything())] != "" {
		t.Errorf("shards share a leader election Lease: %v", ids)
	}
}
