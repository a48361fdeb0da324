package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCronTick(t *testing.T) {
	cases := []struct {
		name    string
		outcome CronOutcome
	}{
		{"a tick sent on time counts as sent", CronTickSent},
		{"a tick sent after its time counts as late", CronTickLate},
		{"a tick never sent counts as skipped", CronTickSkipped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cronTicksTotal.WithLabelValues(string(tc.outcome))
			before := testutil.ToFloat64(c)
			others := map[CronOutcome]float64{}
			for _, o := range []CronOutcome{CronTickSent, CronTickLate, CronTickSkipped} {
				others[o] = testutil.ToFloat64(cronTicksTotal.WithLabelValues(string(o)))
			}
			CronTick(tc.outcome)
			if got := testutil.ToFloat64(c); got != before+1 {
				t.Fatalf("%s: %v, want %v", tc.outcome, got, before+1)
			}
			for o, v := range others {
				if o != tc.outcome && testutil.ToFloat64(cronTicksTotal.WithLabelValues(string(o))) != v {
					t.Fatalf("CronTick(%s) moved %s", tc.outcome, o)
				}
			}
		})
	}
	if n := testutil.CollectAndCount(cronTicksTotal); n != 3 {
		t.Fatalf("%d outcome series, want 3 (every outcome exists from the start)", n)
	}
}

func TestCronTickSentAtAndCronTicks(t *testing.T) {
	tick := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		do   func()
		want map[CronOutcome]float64
	}{
		{"a tick accepted within LateAfter is sent", func() { CronTickSentAt(tick, tick.Add(5*time.Second)) }, map[CronOutcome]float64{CronTickSent: 1}},
		{"a tick accepted exactly LateAfter after its time is still sent", func() { CronTickSentAt(tick, tick.Add(LateAfter)) }, map[CronOutcome]float64{CronTickSent: 1}},
		{"a tick accepted later than LateAfter is late", func() { CronTickSentAt(tick, tick.Add(LateAfter+time.Second)) }, map[CronOutcome]float64{CronTickLate: 1}},
		{"a summary of skipped ticks counts each of them", func() { CronTicks(CronTickSkipped, 7) }, map[CronOutcome]float64{CronTickSkipped: 7}},
		{"zero ticks count nothing", func() { CronTicks(CronTickSkipped, 0) }, map[CronOutcome]float64{}},
	}
	all := []CronOutcome{CronTickSent, CronTickLate, CronTickSkipped}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := map[CronOutcome]float64{}
			for _, o := range all {
				before[o] = testutil.ToFloat64(cronTicksTotal.WithLabelValues(string(o)))
			}
			tc.do()
			for _, o := range all {
				if got := testutil.ToFloat64(cronTicksTotal.WithLabelValues(string(o))) - before[o]; got != tc.want[o] {
					t.Errorf("%s moved by %v, want %v", o, got, tc.want[o])
				}
			}
		})
	}
}
