package metabot

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the outcome label: outcomeAccepted, or the Kind of the failure.
const outcomeAccepted = "accepted"

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b24ops_metabot_requests_total",
		Help: "Metabot schedule calls by outcome: accepted, definite, auth, permanent or ambiguous.",
	}, []string{"metabot", "outcome"})

	limiterWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "b24ops_metabot_rate_limiter_wait_seconds",
		Help:    "Time a Metabot schedule call waited for its client-side rate limiter.",
		Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"metabot"})
)

// RegisterMetrics registers the package's collectors with reg (for the operator,
// controller-runtime's metrics.Registry). Registering twice with the same registry is
// harmless; any other failure panics, as MustRegister does, since it is a programming error.
func RegisterMetrics(reg prometheus.Registerer) {
	for _, c := range []prometheus.Collector{requestsTotal, limiterWait} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				continue
			}
			panic(err)
		}
	}
}
