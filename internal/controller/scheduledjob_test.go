package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

// mbOneShot is a one-shot job running script "welcome" for lead; the lead id finds its
// Metabot job in the simulator.
func mbOneShot(ns, name, metabot string, lead int64) *b24v1.ScheduledJob {
	return &b24v1.ScheduledJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.ScheduledJobSpec{
			MetabotRef: b24v1.LocalObjectReference{Name: metabot},
			Script:     &b24v1.JobTarget{Code: ptr("welcome")},
			LeadID:     ptr(lead),
		},
	}
}

// mbCron is a cron job of schedule in zone ("" = UTC).
func mbCron(ns, name, metabot string, lead int64, schedule, zone string) *b24v1.ScheduledJob {
	j := mbOneShot(ns, name, metabot, lead)
	j.Spec.Schedule = ptr(schedule)
	if zone != "" {
		j.Spec.TimeZone = ptr(zone)
	}
	return j
}

// mbJobs returns the simulator's jobs for lead.
func mbJobs(sim *metabottest.Server, lead int64) []metabottest.Job {
	var out []metabottest.Job
	for _, j := range sim.Jobs() {
		if j.LeadID != nil && *j.LeadID == lead {
			out = append(out, j)
		}
	}
	return out
}

func mbJobsFor(sim *metabottest.Server, lead int64) int { return len(mbJobs(sim, lead)) }

// mbWaitJobs waits until the simulator holds n jobs for lead, then makes sure no more come.
func mbWaitJobs(t *testing.T, sim *metabottest.Server, lead int64, n int) []metabottest.Job {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("%d jobs for lead %d", n, lead), func() (bool, string) {
		got := mbJobsFor(sim, lead)
		return got >= n, fmt.Sprint(got)
	})
	jobs := mbJobs(sim, lead)
	if len(jobs) != n {
		t.Fatalf("%d jobs for lead %d, want %d", len(jobs), lead, n)
	}
	return jobs
}

// mbResend sets a new value of the resend annotation and waits until it is handled.
func mbResend(t *testing.T, j *b24v1.ScheduledJob) {
	t.Helper()
	v := "resend-" + uniqueToken()
	annotate(t, j, b24v1.ResendAnnotation, v)
	eventually(t, 20*time.Second, "resend "+v+" handled", func() (bool, string) {
		reload(t, j)
		return j.Status.HandledResend == v, j.Status.HandledResend
	})
}

// ---- one-shot ----

func TestScheduledJobOneShot(t *testing.T) {
	clock := newMBClock(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	sim := metabottest.NewServer(metabottest.WithClock(clock.Now))
	t.Cleanup(sim.Close)
	ns, _, _ := startTest(t, managerOpts{opts: controller.Options{Clock: clock}})
	mb, _ := mbBot(t, ns, "sales", sim, 21, false)
	waitReady(t, mb)
	now := clock.Now()

	i64 := func(v int64) *int64 { return &v }
	cases := []struct {
		name         string
		mutate       func(*b24v1.ScheduledJobSpec)
		want         metabottest.Request // LeadID is filled in
		wantRunAt    time.Time
		wantRunAfter *int64
	}{
		{name: "every field of a script job by code goes out as documented",
			mutate: func(s *b24v1.ScheduledJobSpec) {
				s.Script = &b24v1.JobTarget{Code: ptr("weekly_digest")}
				s.TicketID = ptr(int64(7))
				s.Periodic = ptr(true)
				s.Condition = ptr("if (leadId == 135) return true;")
				s.Params = &apiextensionsv1.JSON{Raw: []byte(`{"first_param":7,"second_param":{"any_key":"any_value"}}`)}
				s.AddTags = []string{"tag1", "tag2"}
				s.RemoveTags = []string{"tag3"}
			},
			want: metabottest.Request{ScriptCode: ptr("weekly_digest"), TicketID: i64(7), IsPeriodic: ptr(true),
				ConditionScriptCode: ptr("if (leadId == 135) return true;"),
				ScriptRequestParams: json.RawMessage(`{"first_param":7,"second_param":{"any_key":"any_value"}}`),
				AddTags:             ptr("tag1,tag2"), RemoveTags: ptr("tag3")},
			wantRunAt: now},
		{name: "a trigger by id", mutate: func(s *b24v1.ScheduledJobSpec) { s.Script, s.Trigger = nil, &b24v1.JobTarget{ID: ptr(int64(9))} },
			want: metabottest.Request{TriggerID: i64(9)}, wantRunAt: now},
		{name: "a broadcast by code", mutate: func(s *b24v1.ScheduledJobSpec) { s.Script, s.Broadcast = nil, &b24v1.JobTarget{Code: ptr("promo")} },
			want: metabottest.Request{BroadcastCode: ptr("promo")}, wantRunAt: now},
		{name: "runAfter goes out as run_after_sec", mutate: func(s *b24v1.ScheduledJobSpec) { s.RunAfter = &metav1.Duration{Duration: 5 * time.Minute} },
			want: metabottest.Request{ScriptCode: ptr("welcome")}, wantRunAfter: i64(300), wantRunAt: now.Add(5 * time.Minute)},
		{name: "runAt goes out as run_after_sec, never run_at", mutate: func(s *b24v1.ScheduledJobSpec) { s.RunAt = &metav1.Time{Time: now.Add(time.Hour)} },
			want: metabottest.Request{ScriptCode: ptr("welcome")}, wantRunAfter: i64(3600), wantRunAt: now.Add(time.Hour)},
		{name: "a runAt in the past goes out as 0", mutate: func(s *b24v1.ScheduledJobSpec) { s.RunAt = &metav1.Time{Time: now.Add(-time.Hour)} },
			want: metabottest.Request{ScriptCode: ptr("welcome")}, wantRunAfter: i64(0), wantRunAt: now},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lead := int64(2100 + i)
			j := mbOneShot(ns, fmt.Sprintf("payload-%d", i), "sales", lead)
			tc.mutate(&j.Spec)
			create(t, j)
			waitReady(t, j)
			got := mbWaitJobs(t, sim, lead, 1)[0]
			want := tc.want
			want.LeadID, want.RunAfterSec = &lead, tc.wantRunAfter
			if !reflect.DeepEqual(got.Request, want) {
				gotJSON, _ := json.Marshal(got.Request)
				wantJSON, _ := json.Marshal(want)
				t.Errorf("request\n got %s\nwant %s", gotJSON, wantJSON)
			}
			if j.Status.Phase != b24v1.PhaseScheduled || j.Status.ScheduledAt == nil || j.Status.Attempt != nil {
				t.Errorf("status = %+v, want phase Scheduled, scheduledAt set, no attempt", j.Status)
			}
			if j.Status.RunAt == nil || !j.Status.RunAt.Time.Equal(tc.wantRunAt) {
				t.Errorf("status.runAt = %v, want %s", j.Status.RunAt, tc.wantRunAt)
			}
			msg := condition(t, j, b24v1.ConditionReady).Message
			if !strings.Contains(msg, tc.wantRunAt.UTC().Format(time.RFC3339)) || !strings.Contains(msg, "cannot cancel") {
				t.Errorf("Ready message %q should name %s and say deletion cannot cancel the job", msg, tc.wantRunAt.UTC().Format(time.RFC3339))
			}
		})
	}

	t.Run("run_after_sec is computed when the job is sent, not when it was created", func(t *testing.T) {
		late, sec := mbBot(t, ns, "late", sim, 22, true)
		j := mbOneShot(ns, "waits-for-metabot", "late", 2201)
		j.Spec.RunAt = &metav1.Time{Time: clock.Now().Add(time.Hour)}
		create(t, j)
		waitReason(t, j, metav1.ConditionFalse, b24v1.ReasonDependencyNotReady, 20*time.Second)
		if j.Status.Phase != "" && j.Status.Phase != b24v1.PhasePending {
			t.Errorf("phase = %q while waiting, want Pending", j.Status.Phase)
		}
		clock.Advance(10 * time.Minute)
		create(t, sec)
		waitReady(t, late)
		waitReady(t, j)
		got := mbWaitJobs(t, sim, 2201, 1)[0]
		if got.RunAfterSec == nil || *got.RunAfterSec != 3000 {
			t.Errorf("run_after_sec = %v, want 3000 (50 minutes left when sent)", got.RunAfterSec)
		}
		if !got.DueAt.Equal(j.Spec.RunAt.Time) {
			t.Errorf("Metabot would run it at %s, want %s", got.DueAt, j.Spec.RunAt.Time)
		}
	})

	t.Run("a resend of a scheduled job sends nothing", func(t *testing.T) {
		j := mbOneShot(ns, "no-resend", "sales", 2202)
		create(t, j)
		waitReady(t, j)
		mbResend(t, j)
		forceReconcile(t, j)
		mbWaitJobs(t, sim, 2202, 1)
		waitReady(t, j)
	})

	t.Run("deleting a scheduled job makes no remote call", func(t *testing.T) {
		j := mbOneShot(ns, "deleted", "sales", 2203)
		create(t, j)
		waitReady(t, j)
		requests := sim.Requests()
		deleteObject(t, j)
		waitGone(t, j)
		if n := sim.Requests() - requests; n != 0 {
			t.Errorf("%d remote calls on deletion, want none", n)
		}
	})
}

// Each case sends one job through a fault of the simulator and checks the at-most-once
// outcome: definite failures are retried until exactly one job exists; ambiguous ones stall
// with OutcomeUnknown and are never sent again without a resend, which sends exactly once more.
func TestScheduledJobSendFailures(t *testing.T) {
	clock := newMBClock(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ns, _, _ := startTest(t, managerOpts{opts: controller.Options{Clock: clock, HTTPTimeout: time.Second}})
	cases := []struct {
		name       string
		faults     []metabottest.Fault
		wantReason string // final Ready reason before any resend
		wantJobs   int    // jobs Metabot recorded by then
		wantPhase  string
	}{
		{name: "429 answers are retried until exactly one job is scheduled",
			faults:     []metabottest.Fault{metabottest.Refuse(http.StatusTooManyRequests, 0), metabottest.Refuse(http.StatusTooManyRequests, 0), metabottest.Refuse(http.StatusTooManyRequests, 0)},
			wantReason: b24v1.ReasonSucceeded, wantJobs: 1, wantPhase: b24v1.PhaseScheduled},
		{name: "a 408 and a 429 with Retry-After are retried until exactly one job is scheduled",
			faults:     []metabottest.Fault{metabottest.Refuse(http.StatusRequestTimeout, 0), metabottest.Refuse(http.StatusTooManyRequests, time.Second)},
			wantReason: b24v1.ReasonSucceeded, wantJobs: 1, wantPhase: b24v1.PhaseScheduled},
		{name: "a 500 after the job was recorded is OutcomeUnknown with one job and no resend",
			faults:     []metabottest.Fault{metabottest.ProcessThenFail(http.StatusInternalServerError)},
			wantReason: b24v1.ReasonOutcomeUnknown, wantJobs: 1, wantPhase: b24v1.PhasePending},
		{name: "a connection reset after the job was recorded is OutcomeUnknown with one job and no resend",
			faults:     []metabottest.Fault{metabottest.ProcessThenDrop()},
			wantReason: b24v1.ReasonOutcomeUnknown, wantJobs: 1, wantPhase: b24v1.PhasePending},
		{name: "a timeout after the job was recorded is OutcomeUnknown with one job and no resend",
			faults:     []metabottest.Fault{metabottest.ProcessThenDelay(3 * time.Second)},
			wantReason: b24v1.ReasonOutcomeUnknown, wantJobs: 1, wantPhase: b24v1.PhasePending},
		// A 503 may come from a proxy before Metabot saw the request or from Metabot after it
		// scheduled the job: the client cannot tell, so it is ambiguous too.
		{name: "a 503 is ambiguous even when nothing was recorded",
			faults:     []metabottest.Fault{metabottest.Refuse(http.StatusServiceUnavailable, 0)},
			wantReason: b24v1.ReasonOutcomeUnknown, wantJobs: 0, wantPhase: b24v1.PhasePending},
		{name: "a 404 is a refusal: Failed, nothing scheduled, no retry",
			faults:     []metabottest.Fault{metabottest.Refuse(http.StatusNotFound, 0)},
			wantReason: b24v1.ReasonRemoteError, wantJobs: 0, wantPhase: b24v1.PhaseFailed},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim := metabottest.NewServer(metabottest.WithClock(clock.Now))
			t.Cleanup(sim.Close)
			name := fmt.Sprintf("fault-%d", i)
			mb, _ := mbBot(t, ns, name, sim, 31, false)
			waitReady(t, mb)
			for _, f := range tc.faults {
				sim.InjectFault(1, f)
			}
			lead := int64(3100 + i)
			j := mbOneShot(ns, name, name, lead)
			create(t, j)
			if tc.wantReason == b24v1.ReasonSucceeded {
				waitReady(t, j)
			} else {
				assertStalled(t, j, tc.wantReason)
			}
			requests, want := sim.Requests(), len(tc.faults)
			if tc.wantReason == b24v1.ReasonSucceeded {
				want++ // the send that went through
			}
			if requests != want {
				t.Errorf("%d requests, want %d", requests, want)
			}
			// A reconcile changes nothing: no second send on its own.
			poke(t, j)
			mbWaitJobs(t, sim, lead, tc.wantJobs)
			if sim.Requests() != requests {
				t.Fatalf("a reconcile sent %d more requests", sim.Requests()-requests)
			}
			reload(t, j)
			if j.Status.Phase != tc.wantPhase {
				t.Errorf("phase = %q, want %q", j.Status.Phase, tc.wantPhase)
			}
			if tc.wantReason == b24v1.ReasonSucceeded {
				return
			}
			msg := condition(t, j, b24v1.ConditionReady).Message
			if !strings.Contains(msg, b24v1.ResendAnnotation) {
				t.Errorf("the message %q does not say how to resend", msg)
			}
			// A resend sends exactly once more; the same value again sends nothing.
			mbResend(t, j)
			waitReady(t, j)
			mbWaitJobs(t, sim, lead, tc.wantJobs+1)
			forceReconcile(t, j)
			mbWaitJobs(t, sim, lead, tc.wantJobs+1)
			if j.Status.Phase != b24v1.PhaseScheduled || j.Status.Attempt != nil {
				t.Errorf("after the resend: phase %q attempt %v", j.Status.Phase, j.Status.Attempt)
			}
		})
	}
}

// The manager stops after Metabot accepted the job and before the outcome reached status: the
// next manager finds the attempt, reports OutcomeUnknown and does not send again; a resend
// sends exactly one more.
func TestScheduledJobCrashAfterSendLeavesOneJob(t *testing.T) {
	clock := newMBClock(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	sim := metabottest.NewServer(metabottest.WithClock(clock.Now))
	t.Cleanup(sim.Close)
	var failed atomic.Int32
	ns, _, stop := startTest(t, managerOpts{opts: controller.Options{Clock: clock}, newClient: statusCrash(func(*b24v1.ScheduledJob) bool { return sim.JobCount() > 0 }, &failed)})
	mb, _ := mbBot(t, ns, "crash", sim, 41, false)
	waitReady(t, mb)
	j := mbOneShot(ns, "crash", "crash", 4101)
	create(t, j)
	mbWaitJobs(t, sim, 4101, 1)
	eventually(t, 20*time.Second, "the status write after the send to fail", func() (bool, string) {
		return failed.Load() > 0, "no failed write"
	})
	stop()
	if reload(t, j).Status.Attempt == nil {
		t.Fatal("no attempt recorded before sending")
	}

	startManager(t, managerOpts{opts: controller.Options{Clock: clock}})
	assertStalled(t, j, b24v1.ReasonOutcomeUnknown)
	if msg := condition(t, j, b24v1.ConditionReady).Message; !strings.Contains(msg, b24v1.ResendAnnotation) || !strings.Contains(msg, "stopped after sending") {
		t.Errorf("message %q", msg)
	}
	poke(t, j)
	mbWaitJobs(t, sim, 4101, 1)

	mbResend(t, j)
	waitReady(t, j)
	mbWaitJobs(t, sim, 4101, 2)
}

// The attempt cannot be recorded: nothing is sent until it can, then exactly one job.
func TestScheduledJobAttemptNotRecordedSendsNothing(t *testing.T) {
	clock := newMBClock(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	sim := metabottest.NewServer(metabottest.WithClock(clock.Now))
	t.Cleanup(sim.Close)
	var refused atomic.Int32
	failFirst := func(c client.Client) client.Client {
		return interceptor.NewClient(watchless{c}, interceptor.Funcs{
			// The record is the status write that carries the attempt.
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if j, ok := obj.(*b24v1.ScheduledJob); ok && j.Status.Attempt != nil && refused.Load() < 3 {
					if sim.JobCount() > 0 {
						t.Errorf("a job was sent before its attempt was recorded")
					}
					refused.Add(1)
					return errors.New("injected: the API server refused the write")
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		})
	}
	ns, _, _ := startTest(t, managerOpts{opts: controller.Options{Clock: clock}, newClient: failFirst})
	mb, _ := mbBot(t, ns, "unrecorded", sim, 42, false)
	waitReady(t, mb)
	j := mbOneShot(ns, "unrecorded", "unrecorded", 4201)
	create(t, j)
	waitReady(t, j)
	mbWaitJobs(t, sim, 4201, 1)
	if refused.Load() != 3 || sim.Requests() != 1 {
		t.Errorf("%d refused writes and %d requests, want 3 and 1", refused.Load(), sim.Requests())
	}
}

// ---- cron ----

func TestScheduledJobCron(t *testing.T) {
	start := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC)
	clock := newMBClock(start)
	sim := metabottest.NewServer(metabottest.WithClock(clock.Now))
	t.Cleanup(sim.Close)
	ns, _, stop := startTest(t, managerOpts{opts: controller.Options{Clock: clock}})
	parent := t
	mb, _ := mbBot(t, ns, "cron", sim, 51, false)
	waitReady(t, mb)

	hourly := mbCron(ns, "hourly", "cron", 5101, "0 * * * *", "")
	hourly.Spec.StartingDeadlineSeconds = ptr(int64(600))
	create(t, hourly)

	t.Run("sends one job at each tick, in order, and tells when the next one is", func(t *testing.T) {
		waitReady(t, hourly)
		if hourly.Status.Phase != b24v1.PhaseActive || hourly.Status.NextScheduleTime == nil || !hourly.Status.NextScheduleTime.Time.Equal(start.Add(30*time.Minute)) {
			t.Fatalf("status = %+v, want Active with the next tick at 11:00", hourly.Status)
		}
		mbWaitJobs(t, sim, 5101, 0)
		for i, tick := range []time.Time{start.Add(30 * time.Minute), start.Add(90 * time.Minute)} {
			clock.Set(tick.Add(-time.Second))
			forceReconcile(t, hourly)
			mbWaitJobs(t, sim, 5101, i)
			clock.Set(tick)
			forceReconcile(t, hourly)
			jobs := mbWaitJobs(t, sim, 5101, i+1)
			if got := jobs[i]; got.RunAfterSec == nil || *got.RunAfterSec != 0 || !got.ReceivedAt.Equal(tick) {
				t.Errorf("tick %s went out as %+v", tick, got)
			}
			clock.Advance(30 * time.Second)
			forceReconcile(t, hourly)
			mbWaitJobs(t, sim, 5101, i+1)
			st := hourly.Status
			if !st.LastScheduleTime.Time.Equal(tick) || !st.NextScheduleTime.Time.Equal(tick.Add(time.Hour)) {
				t.Errorf("last %s next %s after the tick of %s", st.LastScheduleTime, st.NextScheduleTime, tick)
			}
			if h := st.History[0]; h.Outcome != b24v1.TickSent || !h.ScheduleTime.Time.Equal(tick) || h.SentAt == nil {
				t.Errorf("history[0] = %+v", h)
			}
		}
		if n := len(hourly.Status.History); n != 2 {
			t.Errorf("%d history records, want 2", n)
		}
	})

	t.Run("a 6-hour outage with an hourly schedule and a 10-minute deadline sends nothing stale", func(t *testing.T) {
		stop()
		before := mbJobsFor(sim, 5101)
		// From 12:00:30 to 18:20:30: the ticks 13:00 .. 18:00 are missed, the latest by more
		// than the deadline.
		clock.Advance(6*time.Hour + 20*time.Minute)
		startManager(parent, managerOpts{opts: controller.Options{Clock: clock}}) // reconciles everything on start; runs for the next cases too
		eventually(t, 20*time.Second, "the missed ticks to be recorded", func() (bool, string) {
			reload(t, hourly)
			return hourly.Status.NextScheduleTime != nil && hourly.Status.NextScheduleTime.UTC().Hour() == 19, fmt.Sprint(hourly.Status.NextScheduleTime)
		})
		if n := mbJobsFor(sim, 5101); n != before {
			t.Fatalf("%d stale jobs sent after the outage", n-before)
		}
		var skipped int
		for _, h := range hourly.Status.History {
			if h.Outcome == b24v1.TickSkipped {
				skipped++
				if h.Reason != controller.TickReasonMissedDeadline {
					t.Errorf("skipped tick %s: reason %s", h.ScheduleTime, h.Reason)
				}
			}
		}
		if skipped != 6 || hourly.Status.History[0].ScheduleTime.UTC().Hour() != 18 {
			t.Errorf("history = %+v, want 6 skipped ticks, newest first", hourly.Status.History)
		}
		waitReady(t, hourly)
		if e := waitEvent(t, hourly, "TicksSkipped").Note; !strings.Contains(e, "6 missed ticks") {
			t.Errorf("event %q", e)
		}
	})

	t.Run("suspended, it sends nothing and is not Ready without being stalled; resumed, it does not catch up", func(t *testing.T) {
		before := mbJobsFor(sim, 5101)
		update(t, hourly, func() { hourly.Spec.Suspend = ptr(true) })
		waitReason(t, hourly, metav1.ConditionTrue, b24v1.ReasonSuspended, 20*time.Second)
		for _, typ := range []string{b24v1.ConditionStalled, b24v1.ConditionReconciling} {
			if c := condition(t, hourly, typ); c != nil {
				t.Errorf("%s = %+v while suspended", typ, c)
			}
		}
		if hourly.Status.Phase != b24v1.PhaseSuspended || hourly.Status.NextScheduleTime != nil {
			t.Errorf("status = %+v", hourly.Status)
		}
		clock.Advance(3 * time.Hour)
		forceReconcile(t, hourly)
		update(t, hourly, func() { hourly.Spec.Suspend = ptr(false) })
		waitReady(t, hourly)
		if n := mbJobsFor(sim, 5101); n != before {
			t.Errorf("%d jobs sent for ticks due while suspended", n-before)
		}
		if next := hourly.Status.NextScheduleTime; next == nil || !next.After(clock.Now()) {
			t.Errorf("next = %v, want after now", next)
		}
		// Out of the way of the next cases' clock jumps.
		deleteObject(t, hourly)
	})

	t.Run("an ambiguous tick stalls with OutcomeUnknown, is not sent again, and the next tick still goes", func(t *testing.T) {
		j := mbCron(ns, "ambiguous", "cron", 5102, "*/5 * * * *", "")
		create(t, j)
		waitReady(t, j)
		tick := j.Status.NextScheduleTime.Time
		sim.InjectFault(1, metabottest.ProcessThenFail(http.StatusBadGateway))
		clock.Set(tick)
		forceReconcile(t, j)
		assertStalled(t, j, b24v1.ReasonOutcomeUnknown)
		mbWaitJobs(t, sim, 5102, 1)
		if h := j.Status.History[0]; h.Outcome != b24v1.TickFailed || h.Reason != b24v1.ReasonOutcomeUnknown || !h.ScheduleTime.Time.Equal(tick) {
			t.Errorf("history[0] = %+v", h)
		}
		if !j.Status.NextScheduleTime.Time.Equal(tick.Add(5 * time.Minute)) {
			t.Errorf("next = %s", j.Status.NextScheduleTime)
		}
		clock.Advance(time.Minute)
		poke(t, j)
		mbWaitJobs(t, sim, 5102, 1)

		mbResend(t, j)
		waitReady(t, j)
		mbWaitJobs(t, sim, 5102, 2)
		if h := j.Status.History[0]; h.Outcome != b24v1.TickSent || h.Reason != controller.TickReasonResent || !h.ScheduleTime.Time.Equal(tick) {
			t.Errorf("history[0] after the resend = %+v", h)
		}

		clock.Set(tick.Add(5 * time.Minute))
		forceReconcile(t, j)
		mbWaitJobs(t, sim, 5102, 3)
		waitReady(t, j)
		deleteObject(t, j)
	})

	t.Run("the requeue is for the tick itself: it fires with no other trigger", func(t *testing.T) {
		j := mbCron(ns, "on-time", "cron", 5103, "*/5 * * * *", "")
		create(t, j)
		waitReady(t, j)
		tick := j.Status.NextScheduleTime.Time
		// Real time now runs 1.5 s before the tick; the requeue computed at the next reconcile
		// must fire at the tick.
		clock.Flow(tick.Add(-1500 * time.Millisecond))
		forceReconcile(t, j)
		if n := mbJobsFor(sim, 5103); n != 0 {
			t.Fatalf("%d jobs before the tick", n)
		}
		jobs := mbWaitJobs(t, sim, 5103, 1)
		if late := jobs[0].ReceivedAt.Sub(tick); late < 0 || late > 2*time.Second {
			t.Errorf("sent %s after the tick", late)
		}
		clock.Set(clock.Now())
	})
}

// A daily job at 09:00 Europe/Berlin fires exactly once on each day around both DST
// transitions of 2026 (29 March and 25 October).
func TestScheduledJobCronAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clock := newMBClock(time.Date(2026, 3, 27, 8, 0, 0, 0, berlin))
	sim := metabottest.NewServer(metabottest.WithClock(clock.Now))
	t.Cleanup(sim.Close)
	ns, _, _ := startTest(t, managerOpts{opts: controller.Options{Clock: clock}})
	mb, _ := mbBot(t, ns, "dst", sim, 61, false)
	waitReady(t, mb)

	for i, first := range []time.Time{time.Date(2026, 3, 27, 0, 0, 0, 0, berlin), time.Date(2026, 10, 23, 0, 0, 0, 0, berlin)} {
		lead := int64(6100 + i)
		clock.Set(first.Add(8 * time.Hour))
		j := mbCron(ns, fmt.Sprintf("daily-%d", i), "dst", lead, "0 9 * * *", "Europe/Berlin")
		create(t, j)
		waitReady(t, j)
		for day := 0; day < 4; day++ {
			nine := time.Date(first.Year(), first.Month(), first.Day()+day, 9, 0, 0, 0, berlin)
			if next := j.Status.NextScheduleTime; next == nil || !next.Time.Equal(nine) {
				t.Fatalf("next = %v, want %s", next, nine)
			}
			for _, at := range []time.Time{nine.Add(-time.Minute), nine} {
				clock.Set(at)
				forceReconcile(t, j)
			}
			// The clock moves on only once Metabot has the tick.
			jobs := mbWaitJobs(t, sim, lead, day+1)
			if got := jobs[day].ReceivedAt.In(berlin); !got.Equal(nine) {
				t.Errorf("day %d sent at %s, want %s", day, got, nine)
			}
			clock.Set(nine.Add(2 * time.Hour))
			forceReconcile(t, j)
		}
		deleteObject(t, j)
	}
}

// ---- benchmark ----

// BenchmarkOneShotJobs1000 schedules 1,000 one-shot jobs against one Metabot (its rateLimit
// raised to 1000/s so the client-side bucket does not dominate) with the default manager
// options, and reports the time until all are Scheduled, the requests Metabot saw and the
// duplicates (always 0). Run it alone:
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go test ./internal/controller/ -run '^$' -bench OneShotJobs1000 -benchtime 1x
func BenchmarkOneShotJobs1000(b *testing.B) {
	const jobs = 1000
	ctx := context.Background()
	sim := metabottest.NewServer()
	b.Cleanup(sim.Close)
	stop := benchManager(b)
	ns, err := env.CreateNamespace(ctx, "bench-oneshot")
	if err != nil {
		b.Fatal(err)
	}
	purgeAfter(b, stop, ns)
	mbBot(b, ns, "bench", sim, 71, false)

	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		// Creating the objects is the API server's work, not the operator's, but it overlaps
		// with the sends: it is timed.
		errs := make(chan error, jobs)
		sem := make(chan struct{}, 16)
		for i := 0; i < jobs; i++ {
			sem <- struct{}{}
			go func(i int) {
				defer func() { <-sem }()
				errs <- env.Client.Create(ctx, mbOneShot(ns, fmt.Sprintf("job-%d-%d", n, i), "bench", int64(n*jobs+i+1)))
			}(i)
		}
		for i := 0; i < jobs; i++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Minute)
		for {
			var list b24v1.ScheduledJobList
			if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
				b.Fatal(err)
			}
			done := 0
			for _, j := range list.Items {
				if j.Status.Phase == b24v1.PhaseScheduled && j.Status.ObservedGeneration == j.Generation {
					done++
				}
			}
			if done == (n+1)*jobs {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d jobs scheduled after 10 minutes", done, (n+1)*jobs)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	b.StopTimer()

	seen := map[int64]int{}
	for _, j := range sim.Jobs() {
		seen[*j.LeadID]++
	}
	duplicates := 0
	for _, c := range seen {
		duplicates += c - 1
	}
	if len(seen) != b.N*jobs || duplicates != 0 {
		b.Errorf("%d distinct jobs and %d duplicates, want %d and 0", len(seen), duplicates, b.N*jobs)
	}
	b.ReportMetric(float64(sim.Requests())/float64(b.N), "requests/op")
	b.ReportMetric(float64(duplicates), "duplicates")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*jobs)*1000, "ms/job")
}
