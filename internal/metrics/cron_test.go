package metrics

import (
	"testing"

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
