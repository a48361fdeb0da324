package main

import (
	"fmt"
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/b24ops/b24-operator/internal/controller"
)

// lastAppliedAnnotation is what `kubectl apply` (client-side) keeps on every object it applies:
// a copy of the whole applied manifest, which the operator never reads.
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// cacheOptions configures the manager's informers: every cached object is stripped of its
// managedFields and kubectl's last-applied annotation (together often larger than the object's
// spec), and the cache is limited to the watched namespaces, if any. A non-empty shard
// selector limits the b24ops.io kinds (not the Secrets and ConfigMaps they name) to the
// objects it matches: each shard of the operator sees only its own. byObject is what the
// controllers ask of the cache for other kinds (controller.CacheByObject).
func cacheOptions(syncPeriod time.Duration, namespaces []string, shard labels.Selector, byObject map[client.Object]cache.ByObject) cache.Options {
	opts := cache.Options{SyncPeriod: &syncPeriod, DefaultTransform: stripForCache, ByObject: map[client.Object]cache.ByObject{}}
	for o, b := range byObject {
		opts.ByObject[o] = b
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range namespaces {
			opts.DefaultNamespaces[n] = cache.Config{}
		}
	}
	if shard != nil && !shard.Empty() {
		for _, o := range shardedKinds() {
			opts.ByObject[o] = cache.ByObject{Label: shard}
		}
	}
	return opts
}

// shardedKinds are the kinds a shard selector splits between operator instances: every kind
// the operator reconciles.
func shardedKinds() []client.Object {
	var out []client.Object
	for _, k := range controller.Kinds() {
		out = append(out, k.Object)
	}
	return out
}

// leaderElectionID is the Lease of one operator instance: shards (different selectors) each
// elect their own leader.
func leaderElectionID(shard labels.Selector) string {
	if shard == nil || shard.Empty() {
		return "b24-operator.b24ops.io"
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(shard.String()))
	return fmt.Sprintf("b24-operator-%08x.b24ops.io", h.Sum32())
}

// electionOptions sets the manager's leader election: one Lease per instance (per shard),
// and a stopping leader stops its controllers and then releases the Lease at once
// (LeaderElectionReleaseOnCancel), so during a rolling upgrade the new pod takes over as soon
// as the old one is done, and the two never reconcile at the same time.
func electionOptions(o *ctrl.Options, enabled bool, namespace string, shard labels.Selector) {
	o.LeaderElection = enabled
	o.LeaderElectionID = leaderElectionID(shard)
	o.LeaderElectionNamespace = namespace
	o.LeaderElectionReleaseOnCancel = true
}

// clientOptions configures the manager's client. Secret and ConfigMap contents are read live,
// never cached: the operator watches only their metadata, so no Secret data of the cluster sits
// in its memory, and a typed Get of a Secret or ConfigMap never starts a full informer.
func clientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{
		DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
	}}
}

// stripForCache drops the metadata the operator never reads from an object before it is
// stored in an informer. The objects the operator writes back are patched (merge patches of
// two copies that both lack these fields) or read live first, so nothing it writes drops
// them on the server.
func stripForCache(obj any) (any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		// Tombstones and other non-objects pass unchanged.
		return obj, nil
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a[lastAppliedAnnotation]; ok {
			delete(a, lastAppliedAnnotation)
			if len(a) == 0 {
				a = nil
			}
			m.SetAnnotations(a)
		}
	}
	return obj, nil
}
