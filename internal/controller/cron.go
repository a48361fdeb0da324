package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/metrics"
	"github.com/b24ops/b24-operator/internal/rules"
)

const (
	// historyLimit bounds status.history.
	historyLimit = 10
	// maxMissedCount bounds how many missed ticks are counted after an outage.
	maxMissedCount = 100000
)

// Reasons of skipped ticks in status.history.
const (
	TickReasonMissedDeadline = "MissedDeadline"
	TickReasonSuperseded     = "Superseded"
)

// cronSchedule is spec.schedule read in spec.timeZone.
type cronSchedule struct {
	expr string
	loc  *time.Location
	s    cron.Schedule
}

// parseSchedule reads spec.schedule in spec.timeZone by the rules admission applies too.
func parseSchedule(expr, tz string) (*cronSchedule, error) {
	loc, err := rules.LoadTimeZone(tz)
	if err != nil {
		return nil, fmt.Errorf("timeZone %q: %v", tz, err)
	}
	s, err := rules.ParseSchedule(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v", expr, err)
	}
	return &cronSchedule{expr: expr, loc: loc, s: s}, nil
}

// zone names the schedule's zone for messages.
func (c *cronSchedule) zone() string { return c.loc.String() }

// next returns the first tick strictly after t, in UTC, or the zero time when there is none
// within five years. Ticks are wall-clock times in the schedule's zone: one that does not
// exist when clocks go forward is skipped that day, and one that occurs twice when clocks go
// back fires once.
func (c *cronSchedule) next(t time.Time) time.Time {
	for i := 0; i < 4; i++ {
		n := c.s.Next(t.In(c.loc))
		if n.IsZero() || !c.repeat(n) {
			return n.UTC()
		}
		t = n
	}
	return time.Time{}
}

// repeat says n's wall-clock time already occurred, as a tick, before the clocks went back.
func (c *cronSchedule) repeat(n time.Time) bool {
	wall := func(t time.Time) string { return t.In(c.loc).Format("2006-01-02 15:04") }
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		p := n.Add(-d)
		if wall(p) == wall(n) && c.s.Next(p.Add(-time.Second).In(c.loc)).Equal(p) {
			return true
		}
	}
	return false
}

// isTick says t is one of the schedule's ticks.
func (c *cronSchedule) isTick(t time.Time) bool {
	return !t.IsZero() && c.next(t.Add(-time.Second)).Equal(t)
}

// tickPlan is what to do with the ticks that fell due since the cursor.
type tickPlan struct {
	// send is the tick to send now; zero when none.
	send time.Time
	// skipped holds the records of the ticks not sent, newest first, at most historyLimit-2
	// of them individually and the rest summarized in one record.
	skipped []b24v1.TickRecord
	// missed counts the skipped ticks (at most maxMissedCount, then capped is set).
	missed int
	capped bool
	// next is the cursor after the plan: send when set, else the first tick after now.
	next time.Time
}

// plan decides what to do with the ticks from cursor (itself a tick) through now. Only the
// latest due tick is ever sent, and only within deadline (nil: no deadline): after an outage
// the operator never sends a burst of stale jobs. The rest are recorded as skipped.
func (c *cronSchedule) plan(cursor, now time.Time, deadline *time.Duration) tickPlan {
	var p tickPlan
	if cursor.After(now) {
		p.next = cursor
		return p
	}
	// Count the due ticks and keep the newest of them; a schedule years behind is counted up
	// to a bound, then the newest ticks are found from now backwards.
	recent := make([]time.Time, 0, historyLimit)
	n := 0
	t := cursor
	for ; !t.IsZero() && !t.After(now) && n < maxMissedCount; t = c.next(t) {
		n++
		if len(recent) == historyLimit {
			recent = recent[1:]
		}
		recent = append(recent, t)
	}
	if !t.IsZero() && !t.After(now) {
		p.capped = true
		if r := c.recent(now, historyLimit); len(r) > 0 {
			recent = r
		}
	}
	latest := recent[len(recent)-1]
	late := func(tick time.Time) bool { return deadline != nil && now.Sub(tick) > *deadline }
	skippedRecent := recent[:len(recent)-1]
	if late(latest) {
		skippedRecent = recent
		p.next = c.next(now)
	} else {
		p.send = latest
		p.next = latest
	}
	p.missed = n - (len(recent) - len(skippedRecent))
	if p.capped {
		p.missed = maxMissedCount
	}

	// Newest first, bounded: room is left in the history for the sent tick and a summary.
	room := historyLimit - 2
	for i := len(skippedRecent) - 1; i >= 0 && len(p.skipped) < room; i-- {
		p.skipped = append(p.skipped, skipRecord(skippedRecent[i], late(skippedRecent[i])))
	}
	if rest := p.missed - len(p.skipped); rest == 1 && !p.capped {
		// The one left is the oldest: the cursor itself.
		p.skipped = append(p.skipped, skipRecord(cursor, late(cursor)))
	} else if rest > 1 {
		count := fmt.Sprint(rest)
		if p.capped {
			count = "more than " + count
		}
		reason := TickReasonSuperseded
		if late(cursor) {
			reason = TickReasonMissedDeadline
		}
		p.skipped = append(p.skipped, b24v1.TickRecord{
			ScheduleTime: mtime(cursor), Outcome: b24v1.TickSkipped, Reason: reason,
			Message: fmt.Sprintf("%s missed ticks from this one until the next record were not sent", count),
		})
	}
	return p
}

func skipRecord(tick time.Time, late bool) b24v1.TickRecord {
	if late {
		return b24v1.TickRecord{ScheduleTime: mtime(tick), Outcome: b24v1.TickSkipped, Reason: TickReasonMissedDeadline,
			Message: "missed by more than startingDeadlineSeconds; not sent"}
	}
	return b24v1.TickRecord{ScheduleTime: mtime(tick), Outcome: b24v1.TickSkipped, Reason: TickReasonSuperseded,
		Message: "a later tick was due too; after a delay only the latest missed tick is sent"}
}

// recent returns up to n of the latest ticks at or before now, oldest first, searching
// backwards from now in growing windows.
func (c *cronSchedule) recent(now time.Time, n int) []time.Time {
	var ticks []time.Time
	for w := time.Hour; w <= 16*366*24*time.Hour; w *= 2 {
		ticks = ticks[:0]
		for t := c.next(now.Add(-w)); !t.IsZero() && !t.After(now); t = c.next(t) {
			if len(ticks) == n {
				ticks = ticks[1:]
			}
			ticks = append(ticks, t)
		}
		if len(ticks) == n {
			break
		}
	}
	return ticks
}

// recordTick puts rec into history, newest first and bounded, replacing the record of the
// same tick if there is one.
func recordTick(history []b24v1.TickRecord, recs ...b24v1.TickRecord) []b24v1.TickRecord {
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		replaced := false
		for j := range history {
			if history[j].ScheduleTime.Equal(&rec.ScheduleTime) {
				history[j] = rec
				replaced = true
				break
			}
		}
		if !replaced {
			history = append([]b24v1.TickRecord{rec}, history...)
		}
	}
	if len(history) > historyLimit {
		history = history[:historyLimit]
	}
	return history
}

// ---- the cron flow of a ScheduledJob ----

func (e *jobExternal) observeCron(j *b24v1.ScheduledJob) (managed.Observation, error) {
	st := &j.Status
	s, now := e.sched, e.now

	// A send whose outcome was not recorded: the operator stopped in between. The tick is
	// done with, its outcome unknown.
	if a := st.Attempt; a != nil {
		st.Attempt = nil
		tick := a.StartedAt
		if a.ScheduleTime != nil {
			tick = *a.ScheduleTime
		}
		if apply := e.sent.get(j.UID, a); apply != nil {
			apply(st)
		} else if !sentAfter(st.History, tick, a.StartedAt) {
			st.History = recordTick(st.History, b24v1.TickRecord{ScheduleTime: tick, Outcome: b24v1.TickFailed,
				Reason: b24v1.ReasonOutcomeUnknown, Message: unknownMessage("the operator stopped after sending it, before recording the answer")})
			if st.NextScheduleTime == nil || !st.NextScheduleTime.After(tick.Time) {
				st.NextScheduleTime = ptrTime(s.next(tick.Time))
			}
		}
	}

	if deref(j.Spec.Suspend) {
		st.Phase = b24v1.PhaseSuspended
		st.NextScheduleTime = nil
		return managed.Observation{Exists: true, UpToDate: true, Reason: b24v1.ReasonSuspended,
			Message: "Suspended: no job is sent while spec.suspend is true, and ticks due meanwhile are not sent later"}, nil
	}

	var cursor time.Time
	switch next := st.NextScheduleTime; {
	case st.Phase == b24v1.PhaseSuspended, next != nil && !s.isTick(next.Time):
		// Resumed, or the schedule or its zone changed: ticks count from now.
		cursor = s.next(now)
	case next != nil:
		cursor = next.Time
	default:
		// First look: ticks since the object was created count, as if the operator had been
		// down.
		start := j.CreationTimestamp.Time
		if start.IsZero() || start.After(now) {
			start = now
		}
		cursor = s.next(start)
	}
	st.Phase = b24v1.PhaseActive
	message := fmt.Sprintf("A Metabot job is sent at every tick of %q (%s); deleting this object cannot cancel jobs already sent", s.expr, s.zone())
	until := func(t time.Time) time.Duration {
		if t.IsZero() {
			return managed.DefaultResync // no tick within five years: nothing to wait for
		}
		return max(t.Sub(now), time.Millisecond)
	}

	// A resend asks for the newest tick again when its send failed; due ticks wait for the
	// reconcile right after.
	if v := resendRequested(j); v != "" {
		if h := st.History; len(h) > 0 && h[0].Outcome == b24v1.TickFailed {
			e.resend, e.tick = v, h[0].ScheduleTime.Time
			st.NextScheduleTime = ptrTime(cursor)
			return managed.Observation{Message: message, RequeueAfter: until(cursor), Exact: true}, nil
		}
		st.HandledResend = v
		e.events = append(e.events, managed.Event{Type: corev1.EventTypeNormal, Reason: "ResendIgnored",
			Message: "The last tick was not a failed send; there is nothing to resend"})
	}

	p := s.plan(cursor, now, deadlineOf(j))
	if len(p.skipped) > 0 {
		// A tick given up after failed retries says why.
		if c := meta.FindStatusCondition(st.Conditions, b24v1.ConditionReady); c != nil && c.Status == metav1.ConditionFalse && c.Reason != b24v1.ReasonDependencyNotReady {
			for i := range p.skipped {
				if p.skipped[i].ScheduleTime.Equal(ptrTime(cursor)) {
					p.skipped[i].Message += "; the last send failed: " + c.Message
				}
			}
		}
		st.History = recordTick(st.History, p.skipped...)
		// Counted when found; a status write that then fails finds them again (a rare
		// overcount, never an undercount).
		metrics.CronTicks(metrics.CronTickSkipped, p.missed)
		count := fmt.Sprint(p.missed)
		if p.capped {
			count = "more than " + count
		}
		e.events = append(e.events, managed.Event{Type: corev1.EventTypeWarning, Reason: "TicksSkipped",
			Message: count + " missed ticks were not sent; see status.history"})
	}
	st.NextScheduleTime = ptrTime(p.next)
	if !p.send.IsZero() {
		e.tick = p.send
		return managed.Observation{Message: message, RequeueAfter: until(s.next(p.send)), Exact: true}, nil
	}
	// Nothing is due. A failed last tick keeps the object stalled until a later tick is sent
	// or a resend succeeds; either way the requeue is for the next tick, not a poll.
	if h := st.History; len(h) > 0 && h[0].Outcome == b24v1.TickFailed {
		return managed.Observation{}, &managed.Error{Reason: h[0].Reason, Outcome: managed.Stall, RequeueAfter: until(p.next),
			Message: "The last tick failed: " + h[0].Message}
	}
	return managed.Observation{Exists: true, UpToDate: true, Message: message, RequeueAfter: until(p.next), Exact: true}, nil
}

// sendTick sends the tick Observe chose (or resends a failed one) under the at-most-once
// protocol, with run_after_sec 0: the tick is now.
func (e *jobExternal) sendTick(ctx context.Context, j *b24v1.ScheduledJob) error {
	job, err := jobFor(j)
	if err != nil {
		return err
	}
	job.RunAfterSec = metabot.RunAfter(0)
	tick := mtime(e.tick)
	attempt := e.attempt
	next := e.sched.next(e.tick)
	// consume marks the tick as handled: it is never sent again by the schedule.
	consume := func(st *b24v1.ScheduledJobStatus, rec b24v1.TickRecord) {
		st.Attempt = nil
		st.History = recordTick(st.History, rec)
		if e.resend == "" && (st.NextScheduleTime == nil || !st.NextScheduleTime.After(e.tick)) {
			st.NextScheduleTime = ptrTime(next)
		}
	}
	stallUntilNext := max(next.Sub(e.clock.Now()), time.Millisecond)
	if next.IsZero() {
		stallUntilNext = 0
	}

	_, err = e.metabot.Schedule(ctx, job)
	switch {
	case err == nil:
		at := mtime(e.clock.Now())
		// Sends are at most once, so this counts each accepted tick once.
		metrics.CronTickSentAt(e.tick, at.Time)
		rec := b24v1.TickRecord{ScheduleTime: tick, Outcome: b24v1.TickSent, SentAt: &at}
		if e.resend != "" {
			rec.Reason, rec.Message = TickReasonResent, "sent again on request ("+b24v1.ResendAnnotation+")"
		}
		e.outcome(j, attempt, func(st *b24v1.ScheduledJobStatus) {
			consume(st, rec)
			if st.LastScheduleTime == nil || st.LastScheduleTime.Before(&tick) {
				st.LastScheduleTime = &tick
			}
			st.ScheduledAt, st.RunAt = &at, &at
		})
		return nil
	case metabot.IsAmbiguous(err), metabot.IsPermanent(err):
		rec := b24v1.TickRecord{ScheduleTime: tick, Outcome: b24v1.TickFailed, Reason: b24v1.ReasonOutcomeUnknown, Message: unknownMessage(shortError(err))}
		if metabot.IsPermanent(err) {
			rec.Reason = b24v1.ReasonRemoteError
			rec.Message = fmt.Sprintf("Metabot refused the job and nothing was scheduled (%s); to send it again, set the annotation %s to a new value", shortError(err), b24v1.ResendAnnotation)
		}
		e.outcome(j, attempt, func(st *b24v1.ScheduledJobStatus) { consume(st, rec) })
		return &managed.Error{Reason: rec.Reason, Outcome: managed.Stall, RequeueAfter: stallUntilNext, Message: "The last tick failed: " + rec.Message, Err: err}
	default:
		// Nothing was scheduled and the tick is still due: retried while within the deadline.
		e.outcome(j, attempt, func(st *b24v1.ScheduledJobStatus) { st.Attempt = nil })
		return definiteFailure(err, stallUntilNext)
	}
}

// sentAfter says history records tick as sent by an attempt that started at or after started.
func sentAfter(history []b24v1.TickRecord, tick, started metav1.Time) bool {
	for _, h := range history {
		if h.ScheduleTime.Equal(&tick) {
			return h.Outcome == b24v1.TickSent && h.SentAt != nil && !h.SentAt.Before(&started)
		}
	}
	return false
}

func deadlineOf(j *b24v1.ScheduledJob) *time.Duration {
	if j.Spec.StartingDeadlineSeconds == nil {
		return nil
	}
	d := time.Duration(*j.Spec.StartingDeadlineSeconds) * time.Second
	return &d
}

func ptrTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	m := mtime(t)
	return &m
}
