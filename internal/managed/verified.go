package managed

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/b24ops/b24-operator/internal/metrics"
)

// A verification is a reconcile that found the remote object as the spec says: an Observe
// that read it (Observation.Checked) and found it up to date, or a Create or Update that
// applied the spec. The loop remembers when each object was last verified in memory, never in
// status: a drift check that finds nothing changed writes nothing to the API server. After a
// restart nothing is remembered, and every object is checked once. Freshness is reported as
// metrics (b24ops_drift_check_interval_seconds, b24ops_drift_check_oldest_age_seconds).

type verifiedKey struct{}

// LastVerified is when this process last verified the object being reconciled; zero when it
// has not since it started, or since the object's last failure. Adapters decide from it
// whether a drift check is due.
func LastVerified(ctx context.Context) time.Time {
	t, _ := ctx.Value(verifiedKey{}).(time.Time)
	return t
}

// Due says a drift check of the object being reconciled is due: it was never verified by this
// process, or every has passed since.
func Due(ctx context.Context, every time.Duration) bool {
	last := LastVerified(ctx)
	return last.IsZero() || time.Since(last) >= every
}

// WithLastVerified is the context an adapter's Observe sees for an object last verified at
// last (for tests of adapters).
func WithLastVerified(ctx context.Context, last time.Time) context.Context {
	return context.WithValue(ctx, verifiedKey{}, last)
}

// verification is what a reconcile did to the memory of the object's last verification.
type verification int

const (
	// keep: the reconcile trusted the last verification (no remote read was due).
	keep verification = iota
	// verifiedNow: the remote object was found or made as specified.
	verifiedNow
	// forget: the reconcile failed; the next one reads the remote object again.
	forget
)

func (r *Reconciler[T]) lastVerified(key types.NamespacedName) time.Time {
	if v, ok := r.verified.Load(key); ok {
		return v.(time.Time)
	}
	return time.Time{}
}

func (r *Reconciler[T]) noteVerification(key types.NamespacedName, v verification) {
	switch v {
	case verifiedNow:
		r.trackOnce.Do(func() { metrics.Freshness.Track(r.Kind, r.oldestVerified) })
		now := time.Now()
		if prev, ok := r.verified.Swap(key, now); ok {
			metrics.DriftChecked(r.Kind, now.Sub(prev.(time.Time)))
		}
	case forget:
		r.verified.Delete(key)
	}
}

// oldestVerified is the oldest verification this process remembers.
func (r *Reconciler[T]) oldestVerified() (time.Time, bool) {
	var oldest time.Time
	r.verified.Range(func(_, v any) bool {
		if t := v.(time.Time); oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
		return true
	})
	return oldest, !oldest.IsZero()
}
