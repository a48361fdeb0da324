package metrics

import "github.com/prometheus/client_golang/prometheus"

// CronOutcome is what happened to one tick of a cron ScheduledJob.
type CronOutcome string

const (
	// CronTickSent: the tick was sent to Metabot on time.
	CronTickSent CronOutcome = "sent"
	// CronTickLate: the tick was sent after its time (the operator was down or busy) but
	// within startingDeadlineSeconds.
	CronTickLate CronOutcome = "late"
	// CronTickSkipped: the tick was recorded as Skipped and never sent (missed past its
	// starting deadline, superseded by a newer missed tick, or due while suspended).
	CronTickSkipped CronOutcome = "skipped"
)

var cronTicksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "b24ops_scheduledjob_cron_ticks_total",
	Help: "Ticks of cron ScheduledJobs by outcome: sent (on time), late (sent after its time, within the starting deadline) or skipped (never sent).",
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
