package controller

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// limiterSet holds one rate limiter per remote endpoint (a portal host, a Metabot bot),
// shared by every object that talks to it and retuned to the latest rateLimit seen for it.
// Callers hold their own lock.
type limiterSet map[string]*rate.Limiter

func (s *limiterSet) get(key string, rps float64, burst int, newLimiter func(float64, int) *rate.Limiter) *rate.Limiter {
	if *s == nil {
		*s = limiterSet{}
	}
	l, ok := (*s)[key]
	if !ok {
		l = newLimiter(rps, burst)
		(*s)[key] = l
		return l
	}
	// Retuned to what newLimiter makes of the rate (its headroom included), as when created.
	want := newLimiter(rps, burst)
	if l.Limit() != want.Limit() {
		l.SetLimit(want.Limit())
	}
	if l.Burst() != want.Burst() {
		l.SetBurst(want.Burst())
	}
	return l
}

// join returns key's limiter as it is, creating it with rps and burst when there is none.
func (s *limiterSet) join(key string, rps float64, burst int, newLimiter func(float64, int) *rate.Limiter) *rate.Limiter {
	if l, ok := (*s)[key]; ok {
		return l
	}
	return s.get(key, rps, burst, newLimiter)
}

// rateOf is spec.rateLimit or the defaults.
func rateOf(rl *b24v1.RateLimit, defRPS float64, defBurst int) (float64, int) {
	if rl == nil {
		return defRPS, defBurst
	}
	return float64(rl.RequestsPerSecond), int(rl.Burst)
}

// contentReader reads ConfigMaps (avatars, icons, CA bundles) by resourceVersion: it asks the
// metadata cache, which the ConfigMap watch fills anyway, for the current resourceVersion and
// reads the content from the API server only when that changed. Everything else, Secrets
// included, is read live. Drift checks of many bots, apps and chats then cost no API reads
// for images that did not change.
type contentReader struct {
	live client.Reader
	meta client.Reader

	mu  sync.Mutex
	cms map[types.NamespacedName]*corev1.ConfigMap
}

func newContentReader(live client.Reader, meta client.Reader) *contentReader {
	return &contentReader{live: live, meta: meta, cms: map[types.NamespacedName]*corev1.ConfigMap{}}
}

func (r *contentReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return r.live.Get(ctx, key, obj, opts...)
	}
	var pm metav1.PartialObjectMetadata
	pm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	if err := r.meta.Get(ctx, key, &pm); err == nil {
		r.mu.Lock()
		known := r.cms[key]
		r.mu.Unlock()
		if known != nil && known.ResourceVersion == pm.ResourceVersion {
			known.DeepCopyInto(cm)
			return nil
		}
	}
	if err := r.live.Get(ctx, key, cm, opts...); err != nil {
		return err
	}
	r.mu.Lock()
	r.cms[key] = cm.DeepCopy()
	r.mu.Unlock()
	return nil
}

func (r *contentReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.live.List(ctx, list, opts...)
}
