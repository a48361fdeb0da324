package main

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastAppliedAnnotation is what `kubectl apply` (client-side) keeps on every object it applies:
// a copy of the whole applied manifest, which the operator never reads.
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// cacheOptions configures the manager's informers: every cached object is stripped of its
// managedFields and kubectl's last-applied annotation (together often larger than the object's
// spec), and the cache is limited to the watched namespaces, if any.
func cacheOptions(syncPeriod time.Duration, namespaces []string) cache.Options {
	opts := cache.Options{SyncPeriod: &syncPeriod, DefaultTransform: stripForCache}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range namespaces {
			opts.DefaultNamespaces[n] = cache.Config{}
		}
	}
	return opts
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
