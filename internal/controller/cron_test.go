package controller

import (
	"github.com/b24ops/b24-operator/internal/rules/rulestest"

	"strings"
	"testing"
	"time"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

func mustSchedule(t *testing.T, expr, tz string) *cronSchedule {
	t.Helper()
	s, err := parseSchedule(expr, tz)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCronParseRefuses(t *testing.T) {
	cases := []struct {
		name, expr, tz, want string
	}{
		{"a CRON_TZ prefix belongs in timeZone", "CRON_TZ=Europe/Berlin 0 9 * * *", "", "spec.timeZone"},
		{"a TZ prefix belongs in timeZone", "TZ=UTC 0 9 * * *", "", "spec.timeZone"},
		{"a TZ prefix without a space does not panic", "TZ=UTC", "", "spec.timeZone"},
		{"@every is not a cron schedule", "@every 5m", "", "@every"},
		{"six fields are not standard cron", "0 0 9 * * *", "", "schedule"},
		{"an unknown zone", "0 9 * * *", "Mars/Olympus", "timeZone"},
		{"Local depends on the host", "0 9 * * *", "Local", "timeZone"},
		{"a schedule that never fires", "0 0 30 2 *", "", "never fires"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSchedule(tc.expr, tc.tz)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseSchedule(%q, %q) = %v, want an error mentioning %q", tc.expr, tc.tz, err, tc.want)
			}
		})
	}
}

func TestCronNext(t *testing.T) {
	cases := []struct {
		name, expr, tz, from string
		want                 []string
	}{
		{"hourly in UTC", "0 * * * *", "", "2026-05-01T10:30:00Z",
			[]string{"2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z"}},
		{"a descriptor in a zone", "@daily", "Europe/Moscow", "2026-05-01T10:30:00Z",
			[]string{"2026-05-01T21:00:00Z", "2026-05-02T21:00:00Z"}},
		{"Mondays at 09:00 in Moscow", "0 9 * * 1", "Europe/Moscow", "2026-05-01T00:00:00Z",
			[]string{"2026-05-04T06:00:00Z", "2026-05-11T06:00:00Z"}},
		{"a tick is strictly after the given time", "0 9 * * *", "", "2026-05-01T09:00:00Z",
			[]string{"2026-05-02T09:00:00Z"}},
		{"hourly skips the repeated 02:00 when Berlin's clocks go back", "0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		{"a time that does not exist when clocks go forward is skipped that day", "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
			[]string{"2026-03-30T00:30:00Z"}},
		{"a time that occurs twice when clocks go back fires once", "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSchedule(t, tc.expr, tc.tz)
			cur := at(t, tc.from)
			for _, w := range tc.want {
				cur = s.next(cur)
				if !cur.Equal(at(t, w)) {
					t.Fatalf("next = %s, want %s", cur.Format(time.RFC3339), w)
				}
			}
		})
	}
}

// A daily tick at 09:00 Europe/Berlin fires exactly once on each day of 2026, at 09:00 local,
// across both DST transitions (29 March and 25 October).
func TestCronDailyBerlinAcrossDST(t *testing.T) {
	s := mustSchedule(t, "0 9 * * *", "Europe/Berlin")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	perDay := map[string]int{}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, berlin)
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, berlin)
	var gaps []time.Duration
	prev := time.Time{}
	for tick := s.next(from); tick.Before(end); tick = s.next(tick) {
		local := tick.In(berlin)
		if local.Hour() != 9 || local.Minute() != 0 {
			t.Fatalf("tick at %s local, want 09:00", local)
		}
		perDay[local.Format("2006-01-02")]++
		if !prev.IsZero() {
			gaps = append(gaps, tick.Sub(prev))
		}
		prev = tick
	}
	if len(perDay) != 365 {
		t.Fatalf("%d days with a tick, want 365", len(perDay))
	}
	for day, n := range perDay {
		if n != 1 {
			t.Errorf("%s: %d ticks", day, n)
		}
	}
	short, long := 0, 0
	for _, g := range gaps {
		switch g {
		case 23 * time.Hour:
			short++
		case 25 * time.Hour:
			long++
		case 24 * time.Hour:
		default:
			t.Errorf("gap of %s between ticks", g)
		}
	}
	if short != 1 || long != 1 {
		t.Errorf("%d 23-hour and %d 25-hour gaps, want one of each", short, long)
	}
}

func TestCronPlan(t *testing.T) {
	minutes := func(n int) *time.Duration { d := time.Duration(n) * time.Minute; return &d }
	cases := []struct {
		name        string
		expr        string
		cursor, now string
		deadline    *time.Duration
		wantSend    string // "" = nothing sent
		wantNext    string
		wantMissed  int
		wantSkipped int // records
		wantReasons []string
		wantSummary bool
		wantCapped  bool
	}{
		{name: "nothing due yet", expr: "0 * * * *", cursor: "2026-05-01T11:00:00Z", now: "2026-05-01T10:59:59Z",
			wantNext: "2026-05-01T11:00:00Z"},
		{name: "the due tick is sent", expr: "0 * * * *", cursor: "2026-05-01T11:00:00Z", now: "2026-05-01T11:00:00Z",
			wantSend: "2026-05-01T11:00:00Z", wantNext: "2026-05-01T11:00:00Z"},
		{name: "a late tick within the deadline is sent", expr: "0 * * * *", cursor: "2026-05-01T11:00:00Z", now: "2026-05-01T11:09:00Z", deadline: minutes(10),
			wantSend: "2026-05-01T11:00:00Z", wantNext: "2026-05-01T11:00:00Z"},
		{name: "a tick later than the deadline is skipped", expr: "0 * * * *", cursor: "2026-05-01T11:00:00Z", now: "2026-05-01T11:11:00Z", deadline: minutes(10),
			wantNext: "2026-05-01T12:00:00Z", wantMissed: 1, wantSkipped: 1, wantReasons: []string{TickReasonMissedDeadline}},
		{name: "a 6-hour outage of an hourly schedule with a 10-minute deadline sends nothing stale",
			expr: "0 * * * *", cursor: "2026-05-01T01:00:00Z", now: "2026-05-01T06:30:00Z", deadline: minutes(10),
			wantNext: "2026-05-01T07:00:00Z", wantMissed: 6, wantSkipped: 6,
			wantReasons: []string{TickReasonMissedDeadline, TickReasonMissedDeadline, TickReasonMissedDeadline, TickReasonMissedDeadline, TickReasonMissedDeadline, TickReasonMissedDeadline}},
		{name: "after an outage only the latest tick within the deadline is sent",
			expr: "*/5 * * * *", cursor: "2026-05-01T01:00:00Z", now: "2026-05-01T01:17:00Z", deadline: minutes(10),
			wantSend: "2026-05-01T01:15:00Z", wantNext: "2026-05-01T01:15:00Z", wantMissed: 3, wantSkipped: 3,
			wantReasons: []string{TickReasonSuperseded, TickReasonMissedDeadline, TickReasonMissedDeadline}},
		{name: "without a deadline the latest missed tick is sent however late",
			expr: "0 * * * *", cursor: "2026-05-01T01:00:00Z", now: "2026-05-01T06:59:00Z",
			wantSend: "2026-05-01T06:00:00Z", wantNext: "2026-05-01T06:00:00Z", wantMissed: 5, wantSkipped: 5,
			wantReasons: []string{TickReasonSuperseded, TickReasonSuperseded, TickReasonSuperseded, TickReasonSuperseded, TickReasonSuperseded}},
		{name: "a day of missed minute ticks is summarized within the history bound",
			expr: "* * * * *", cursor: "2026-05-01T00:00:00Z", now: "2026-05-02T00:00:30Z", deadline: minutes(10),
			wantSend: "2026-05-02T00:00:00Z", wantNext: "2026-05-02T00:00:00Z", wantMissed: 1440, wantSkipped: historyLimit - 1, wantSummary: true},
		{name: "years of missed minute ticks are counted up to a bound (BenchmarkCronPlanAfterYears times it)",
			expr: "* * * * *", cursor: "2024-05-01T00:00:00Z", now: "2026-05-01T00:00:30Z", deadline: minutes(10),
			wantSend: "2026-05-01T00:00:00Z", wantNext: "2026-05-01T00:00:00Z", wantMissed: maxMissedCount, wantSkipped: historyLimit - 1,
			wantSummary: true, wantCapped: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSchedule(t, tc.expr, "")
			p := s.plan(at(t, tc.cursor), at(t, tc.now), tc.deadline)
			send := ""
			if !p.send.IsZero() {
				send = p.send.Format(time.RFC3339)
			}
			if send != tc.wantSend {
				t.Errorf("send = %q, want %q", send, tc.wantSend)
			}
			if got := p.next.Format(time.RFC3339); got != tc.wantNext {
				t.Errorf("next = %s, want %s", got, tc.wantNext)
			}
			if p.missed != tc.wantMissed || p.capped != tc.wantCapped {
				t.Errorf("missed = %d (capped %v), want %d (capped %v)", p.missed, p.capped, tc.wantMissed, tc.wantCapped)
			}
			if len(p.skipped) != tc.wantSkipped {
				t.Fatalf("%d skipped records, want %d: %+v", len(p.skipped), tc.wantSkipped, p.skipped)
			}
			for i, r := range tc.wantReasons {
				if p.skipped[i].Reason != r || p.skipped[i].Outcome != b24v1.TickSkipped {
					t.Errorf("record %d: %s/%s, want Skipped/%s", i, p.skipped[i].Outcome, p.skipped[i].Reason, r)
				}
			}
			for i := 1; i < len(p.skipped); i++ {
				if !p.skipped[i].ScheduleTime.Before(&p.skipped[i-1].ScheduleTime) {
					t.Errorf("records not newest first: %v", p.skipped)
				}
			}
			if tc.wantSummary {
				last := p.skipped[len(p.skipped)-1]
				if !last.ScheduleTime.Time.Equal(at(t, tc.cursor)) || !strings.Contains(last.Message, "missed ticks") {
					t.Errorf("summary record = %+v", last)
				}
			}
		})
	}
}

func TestCronHistoryIsBoundedNewestFirstAndReplacesTheSameTick(t *testing.T) {
	var h []b24v1.TickRecord
	base := at(t, "2026-05-01T00:00:00Z")
	for i := 0; i < 15; i++ {
		h = recordTick(h, b24v1.TickRecord{ScheduleTime: mtime(base.Add(time.Duration(i) * time.Hour)), Outcome: b24v1.TickSent})
	}
	if len(h) != historyLimit {
		t.Fatalf("%d records, want %d", len(h), historyLimit)
	}
	if !h[0].ScheduleTime.Time.Equal(base.Add(14 * time.Hour)) {
		t.Fatalf("newest = %s", h[0].ScheduleTime)
	}
	h = recordTick(h, b24v1.TickRecord{ScheduleTime: mtime(base.Add(12 * time.Hour)), Outcome: b24v1.TickFailed})
	if len(h) != historyLimit || h[2].Outcome != b24v1.TickFailed {
		t.Fatalf("the record of 12:00 was not replaced in place: %+v", h[:3])
	}
}

// The controller judges every shared case as admission does (see the webhook's
// TestScheduledJobSharedCases).
func TestCronSharedCases(t *testing.T) {
	for _, tc := range rulestest.ScheduleCases {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := parseSchedule(tc.Schedule, tc.TimeZone)
			if (err != nil) != tc.Refused || (err != nil && !strings.Contains(err.Error(), tc.Mention)) {
				t.Fatalf("parseSchedule(%q, %q) = %v, want refused %v mentioning %q", tc.Schedule, tc.TimeZone, err, tc.Refused, tc.Mention)
			}
		})
	}
}

// BenchmarkCronPlanAfterYears is the cost of planning after two years of missed minute ticks
// (counted up to maxMissedCount): the first reconcile after a long outage.
func BenchmarkCronPlanAfterYears(b *testing.B) {
	s, err := parseSchedule("* * * * *", "")
	if err != nil {
		b.Fatal(err)
	}
	cursor := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 5, 1, 0, 0, 30, 0, time.UTC)
	d := 10 * time.Minute
	for b.Loop() {
		if p := s.plan(cursor, now, &d); !p.capped {
			b.Fatal("not capped")
		}
	}
}
