package metabot

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the outcome label of requests_total: outcomeAccepted, or the Kind of the failure.
const outcomeAccepted = "accepted"

// Values of the outcome label of schedule_outcomes_total: what a Schedule call means for the
// job, the way the ScheduledJob reports it.
const (
	// OutcomeScheduled: Metabot accepted the job.
	OutcomeScheduled = "scheduled"
	// OutcomeNotScheduled: certainly nothing was scheduled (Definite, Auth, Permanent).
	OutcomeNotScheduled = "not_scheduled"
	// OutcomeUnknown: the request may have been processed; the ScheduledJob stalls with
	// Ready reason OutcomeUnknown and is never resent on its own.
	OutcomeUnknown = "outcome_unknown"
)

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b24ops_metabot_requests_total",
		Help: "Metabot schedule calls by outcome: accepted, definite, auth, permanent or ambiguous.",
	}, []string{"metabot", "outcome"})

	scheduleOutcomesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b24ops_metabot_schedule_outcomes_total",
		Help: "Metabot schedule calls by what they mean for the job: scheduled, not_scheduled or outcome_unknown (may or may not be scheduled; never resent on its own).",
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
	for _, c := range []prometheus.Collector{requestsTotal, scheduleOutcomesTotal, limiterWait} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				continue
			}
			panic(err)
		}
	}
}

func (c *Client) countAccepted() {
	requestsTotal.WithLabelValues(c.label, outcomeAccepted).Inc()
	scheduleOutcomesTotal.WithLabelValues(c.label, OutcomeScheduled).Inc()
}

// count records a failed Schedule call and returns e.
func (c *Client) count(e *Error) *Error {
	requestsTotal.WithLabelValues(c.label, e.Kind.String()).Inc()
	outcome := OutcomeUnknown
	if e.Kind.NothingScheduled() {
		outcome = OutcomeNotScheduled
	}
	scheduleOutcomesTotal.WithLabelValues(c.label, outcome).Inc()
	return e
}
