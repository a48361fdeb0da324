package controller

import (
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	if l.Limit() != rate.Limit(rps) {
		l.SetLimit(rate.Limit(rps))
	}
	if l.Burst() != burst {
		l.SetBurst(burst)
	}
	return l
}

// rateOf is spec.rateLimit or the defaults.
func rateOf(rl *b24v1.RateLimit, defRPS float64, defBurst int) (float64, int) {
	if rl == nil {
		return defRPS, defBurst
	}
	return float64(rl.RequestsPerSecond), int(rl.Burst)
}

// dependencyReady says whether a referenced object is Ready for its current generation, and
// if not, a Waiting error naming it and its reason.
func dependencyReady(kind, name string, obj Object) error {
	st := obj.CommonStatus()
	ready := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue && st.ObservedGeneration == obj.GetGeneration() {
		return nil
	}
	reason := "not reconciled yet"
	if ready != nil && ready.Status != metav1.ConditionTrue {
		reason = ready.Reason
	}
	return Waiting(b24v1.ReasonDependencyNotReady, "%s %s is not ready (%s)", kind, name, reason)
}
