package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CronOutcome is what happened to one tick of a cron ScheduledJob.
type CronOutcome string

const (
	// CronTickSent: the tick was sent to Metabot on time.
	CronTickSent CronOutcome = "sent"
	// CronTickLate: the tick was sent more than LateAfter after its time (the operator was
	// down or busy) but within startingDeadlineSeconds.
	CronTickLate CronOutcome = "late"
	// CronTickSkipped: the tick was recorded as Skipped and never sent (missed past its
	// starting deadline, superseded by a newer missed tick, or due while suspended).
	CronTickSkipped CronOutcome = "skipped"
)

// LateAfter is how long after its time a sent tick still counts as on time.
const LateAfter = time.Minute

var cronTicksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "b24ops_scheduledjob_cron_ticks_total",
	Help: "Ticks of cron ScheduledJobs by outcome: sent (within a minute of its time), late (sent later, within the starting deadline) or skipped (never sent).",
}, []string{"outcome"})

func init() {
	// Every outcome exists from the start, so rate() and increase() see the first tick.
	for _, o := range []CronOutcome{CronTickSent, CronTickLate, CronTickSkipped} {
		cronTicksTotal.WithLabelValues(string(o))
	}
}

// CronTick counts one tick of a cron ScheduledJob. The controller calls it once per tick,
// when the tick's fate is recorded in status.history.
func CronTick(o CronOutcome) { cronTicksTotal.WithLabelValues(string(o)).Inc() }

// CronTicks counts n ticks with the same outcome (a history summary record of several skipped
// ticks).
func CronTicks(o CronOutcome, n int) {
	if n > 0 {
		cronTicksTotal.WithLabelValues(string(o)).Add(float64(n))
	}
}

// CronTickSentAt counts a tick that Metabot accepted at sentAt: sent, or late when that is
// more than LateAfter after the tick's time.
func CronTickSentAt(tick, sentAt time.Time) {
	if sentAt.Sub(tick) > LateAfter {
		CronTick(CronTickLate)
		return
	}
	CronTick(CronTickSent)
}
