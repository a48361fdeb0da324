package controller

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/refs"
)

// ScheduledJob sends Metabot jobs at most once each.
//
// Metabot offers no way to list, read or cancel a scheduled job, and a job sent twice runs
// twice. So every send follows one protocol:
//
//  1. The attempt is recorded in status.attempt with an optimistic-lock status Update. If that
//     write fails, nothing is sent.
//  2. The job is sent.
//  3. The outcome is recorded and the attempt cleared, again with an Update (retried on a
//     conflict, re-reading the object).
//
// An attempt found at the start of a reconcile with no recorded outcome means the operator
// stopped between 2 and 3: the job may or may not exist, and it is not sent again
// (OutcomeUnknown) until the user asks for a resend with a new value of the b24ops.io/resend
// annotation. The same holds for an ambiguous answer (a 5xx, a timeout or a reset after the
// request was written). A definite failure (nothing can have been scheduled) clears the
// attempt and is retried.
//
// A cron ScheduledJob runs the same protocol once per tick, with the tick time in the
// attempt.
//
// What users see:
//
//   - one-shot: phase Pending (Ready=False while waiting for the Metabot or retrying a
//     definite failure), then Scheduled (Ready=True, "Job scheduled in Metabot for <runAt>;
//     deleting this object cannot cancel it"), or Failed (Metabot refused the job: Ready=False
//     RemoteError, Stalled). An unknown outcome keeps phase Pending with Ready=False
//     OutcomeUnknown, Stalled. A resend acts on OutcomeUnknown and Failed; on a Scheduled job
//     it is recorded and ignored (an event says so).
//   - cron: phase Active, Ready=True. Suspended is phase Suspended with Ready=True reason
//     Suspended and neither Reconciling nor Stalled, so kstatus (Flux, Argo CD) reads it as
//     current, not failed; ticks due while suspended are never sent later. A tick whose send
//     was ambiguous or refused is recorded Failed in status.history and leaves Ready=False
//     (OutcomeUnknown or RemoteError), Stalled, until a later tick is sent or a resend of
//     that tick succeeds; the schedule keeps running meanwhile.
//   - deleting a ScheduledJob makes no remote call: Metabot has no cancel call.

// Tick reasons beyond the Ready reasons.
const (
	TickReasonResent = "Resent"
)

// sentOutcomes remembers outcomes this process knows but failed to record (step 3 failed), so
// that a later reconcile of the same process records them instead of reporting
// OutcomeUnknown. A new process has none: for it an unrecorded attempt is unknown. Entries
// stay until they are a day old, since this process cannot tell whether a later status
// patch recorded them.
type sentOutcomes struct {
	mu sync.Mutex
	m  map[string]sentOutcome
}

type sentOutcome struct {
	apply func(*b24v1.ScheduledJobStatus)
	at    time.Time
}

func attemptKey(uid types.UID, a *b24v1.SendAttempt) string {
	k := string(uid) + "/" + strconv.FormatInt(a.StartedAt.Unix(), 10)
	if a.ScheduleTime != nil {
		k += "/" + strconv.FormatInt(a.ScheduleTime.Unix(), 10)
	}
	return k
}

func (s *sentOutcomes) put(uid types.UID, a *b24v1.SendAttempt, apply func(*b24v1.ScheduledJobStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]sentOutcome{}
	}
	for k, o := range s.m {
		if time.Since(o.at) > 24*time.Hour {
			delete(s.m, k)
		}
	}
	s.m[attemptKey(uid, a)] = sentOutcome{apply: apply, at: time.Now()}
}

// forget drops what this process knows of attempt a.
func (s *sentOutcomes) forget(uid types.UID, a *b24v1.SendAttempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, attemptKey(uid, a))
}

// get returns how to record the outcome of attempt a, or nil when this process does not know.
func (s *sentOutcomes) get(uid types.UID, a *b24v1.SendAttempt) func(*b24v1.ScheduledJobStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[attemptKey(uid, a)].apply
}

func (s *setup) scheduledJob() error {
	c, mbs := s.mgr.GetClient(), s.metabots
	// Decisions rest on the attempt written a moment ago; the loop reads the object live
	// whenever the cache may not hold that write yet.
	r := newReconciler(s, "ScheduledJob", func() *b24v1.ScheduledJob { return &b24v1.ScheduledJob{} },
		&scheduledJobAdapter{client: c, reader: s.mgr.GetAPIReader(), metabots: mbs,
			clock: s.opts.Clock, sent: &sentOutcomes{}})
	return ctrl.NewControllerManagedBy(s.mgr).Named("scheduledjob").
		For(&b24v1.ScheduledJob{}, forPredicates()).
		WithOptions(s.controllerOptions()).
		// A Metabot becoming ready (or changing) brings its jobs along.
		Watches(&b24v1.Metabot{}, byIndex(c, &b24v1.ScheduledJobList{}, refs.IndexMetabotRef)).
		// A new token or CA brings back the jobs that failed with the old one, even when the
		// Metabot's own status does not change.
		Watches(&corev1.Secret{}, jobsOfMetabotsReading(c, mbs, refs.IndexSecrets), builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, jobsOfMetabotsReading(c, mbs, refs.IndexConfigMaps), builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Complete(r)
}

// jobsOfMetabotsReading maps a Secret or ConfigMap to the ScheduledJobs of the Metabots that
// read it, and makes those Metabots' clients read it again before the jobs send.
func jobsOfMetabotsReading(c client.Client, mbs *Metabots, field string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list b24v1.MetabotList
		if err := c.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{field: o.GetName()}); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		for _, mb := range list.Items {
			mbs.Invalidate(client.ObjectKeyFromObject(&mb))
			var jobs b24v1.ScheduledJobList
			if err := c.List(ctx, &jobs, client.InNamespace(mb.Namespace), client.MatchingFields{refs.IndexMetabotRef: mb.Name}); err != nil {
				continue
			}
			for _, j := range jobs.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&j)})
			}
		}
		return reqs
	})
}

type scheduledJobAdapter struct {
	client   client.Client
	reader   client.Reader
	metabots *Metabots
	clock    Clock
	sent     *sentOutcomes
}

// Orphan is always true: Metabot has no call to cancel a job, so deleting a ScheduledJob
// leaves what it sent in place and makes no remote call.
func (a *scheduledJobAdapter) Orphan(*b24v1.ScheduledJob) bool { return true }

// DependsOn: a job that may be sent needs a Ready Metabot; a suspended schedule or a settled
// one-shot job needs none to say so.
func (a *scheduledJobAdapter) DependsOn(j *b24v1.ScheduledJob) []managed.Dependency {
	if !a.maySend(j) {
		return nil
	}
	return []managed.Dependency{{Kind: "Metabot", Name: j.Spec.MetabotRef.Name, Object: &b24v1.Metabot{}}}
}

// maySend says whether this reconcile may send (or record the outcome of a send).
func (a *scheduledJobAdapter) maySend(j *b24v1.ScheduledJob) bool {
	if j.Spec.Schedule != nil {
		return !deref(j.Spec.Suspend)
	}
	return oneShotMaySend(j) || (j.Status.Attempt != nil && a.sent.get(j.UID, j.Status.Attempt) != nil)
}

func (a *scheduledJobAdapter) Connect(ctx context.Context, j *b24v1.ScheduledJob) (managed.External[*b24v1.ScheduledJob], error) {
	e := &jobExternal{scheduledJobAdapter: a, now: a.clock.Now()}
	if j.Spec.Schedule != nil {
		s, err := parseSchedule(*j.Spec.Schedule, deref(j.Spec.TimeZone))
		if err != nil {
			return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "%v", err)
		}
		e.sched = s
	}
	if !a.maySend(j) {
		return e, nil // nothing to send: no Metabot needed to say so
	}
	mb, err := getMetabot(ctx, a.client, j.Namespace, j.Spec.MetabotRef.Name)
	if err != nil {
		return nil, err
	}
	if e.metabot, err = a.metabots.Cached(ctx, mb); err != nil {
		return nil, err
	}
	return e, nil
}

// oneShotMaySend says whether a one-shot job may be sent in this reconcile.
func oneShotMaySend(j *b24v1.ScheduledJob) bool {
	st := j.Status
	switch {
	case st.Attempt != nil, st.Phase == b24v1.PhaseFailed:
		return resendRequested(j) != ""
	case st.Phase == b24v1.PhaseScheduled:
		return false
	}
	return true
}

// resendRequested returns a value of the resend annotation not acted upon yet, or "".
func resendRequested(j *b24v1.ScheduledJob) string {
	v := j.Annotations[b24v1.ResendAnnotation]
	if v == "" || v == j.Status.HandledResend {
		return ""
	}
	return v
}

// jobExternal is one reconcile's view: what Observe decided to send, for Create.
type jobExternal struct {
	*scheduledJobAdapter
	metabot metabot.Scheduler
	sched   *cronSchedule
	now     time.Time
	// events are what Observe found worth telling.
	events []managed.Event
	// attempt is the send attempt recorded before Create.
	attempt *b24v1.SendAttempt

	// What Observe decided.
	due    time.Time // one-shot: when the job is due to run
	tick   time.Time // cron: the tick to send
	resend string    // the resend annotation value being acted upon
}

func (e *jobExternal) Observe(ctx context.Context, j *b24v1.ScheduledJob, _ bool) (managed.Observation, error) {
	obs, err := e.observe(j)
	if err == nil && !obs.Exists {
		// An invalid job is never recorded as an attempt, let alone sent.
		_, err = jobFor(j)
	}
	obs.Events = e.events
	return obs, err
}

func (e *jobExternal) observe(j *b24v1.ScheduledJob) (managed.Observation, error) {
	if e.sched != nil {
		return e.observeCron(j)
	}
	return e.observeOnce(j)
}

// RecordBeforeCreate puts the attempt (and the resend value acted upon) into status; the
// loop writes it with an optimistic lock before Create sends, and Create is not called when
// that write fails.
func (e *jobExternal) RecordBeforeCreate(j *b24v1.ScheduledJob) bool {
	a := &b24v1.SendAttempt{StartedAt: mtime(e.clock.Now())}
	if e.sched != nil {
		tick := mtime(e.tick)
		a.ScheduleTime = &tick
	}
	// Should the write fail yet land (a lost answer), the attempt it left is known here to be
	// harmless: nothing was sent.
	e.sent.put(j.UID, a, func(st *b24v1.ScheduledJobStatus) { st.Attempt = nil })
	j.Status.Attempt = a
	if e.resend != "" {
		j.Status.HandledResend = e.resend
	}
	e.attempt = a
	return true
}

func (e *jobExternal) Create(ctx context.Context, j *b24v1.ScheduledJob) (managed.Applied, error) {
	// The attempt is in status: from now on, only a known outcome may clear it. One the send
	// leaves unknown keeps it, and with it OutcomeUnknown.
	e.sent.forget(j.UID, e.attempt)
	if e.sched != nil {
		return done(e.sendTick(ctx, j))
	}
	return done(e.sendOnce(ctx, j))
}

// Update is never called: a sent job is never changed (Metabot cannot).
func (e *jobExternal) Update(context.Context, *b24v1.ScheduledJob) (managed.Applied, error) {
	return managed.Applied{Noop: true}, nil
}

// Delete is never called (Orphan).
func (e *jobExternal) Delete(context.Context, *b24v1.ScheduledJob) (managed.Applied, error) {
	return managed.Applied{Noop: true}, nil
}

// ---- one-shot ----

func (e *jobExternal) observeOnce(j *b24v1.ScheduledJob) (managed.Observation, error) {
	st := &j.Status
	if st.Phase == "" {
		st.Phase = b24v1.PhasePending
	}
	resend := resendRequested(j)
	if a := st.Attempt; a != nil {
		switch apply := e.sent.get(j.UID, a); {
		case st.Phase == b24v1.PhaseScheduled && st.ScheduledAt != nil && !st.ScheduledAt.Before(&a.StartedAt):
			// The outcome made it into status after all; only the attempt was left behind.
			st.Attempt = nil
		case apply != nil:
			apply(st) // this process knows the outcome; recording it had failed
		case resend == "":
			return managed.Observation{}, outcomeUnknown(j, "")
		}
		// Otherwise the user asked for a resend: it goes below.
	}
	switch st.Phase {
	case b24v1.PhaseScheduled:
		if resend != "" {
			st.HandledResend = resend
			e.events = append(e.events, managed.Event{Type: corev1.EventTypeNormal, Reason: "ResendIgnored",
				Message: "The job was scheduled; there is nothing to resend (create a new ScheduledJob to run it again)"})
		}
		// Nothing can change any more: no drift to look for.
		return managed.Observation{Exists: true, UpToDate: true, Message: scheduledMessage(st.RunAt), RequeueAfter: 24 * time.Hour}, nil
	case b24v1.PhaseFailed:
		if resend == "" {
			return managed.Observation{}, stillFailed(j)
		}
	}
	e.resend = resend
	e.due = dueOf(j, e.now)
	if e.metabot == nil {
		// Connect saw nothing to send; the state changed since (a remembered outcome).
		return managed.Observation{}, managed.Retryable(b24v1.ReasonProgressing, "sending the job")
	}
	due := mtime(e.due)
	return managed.Observation{Message: scheduledMessage(&due)}, nil
}

func (e *jobExternal) sendOnce(ctx context.Context, j *b24v1.ScheduledJob) error {
	job, err := jobFor(j)
	if err != nil {
		return err
	}
	attempt := e.attempt
	// run_after_sec is computed now, at the moment of sending, so the Metabot server's time
	// zone never matters (run_at would be read in it). A time in the past is sent as 0.
	switch s := j.Spec; {
	case s.RunAt != nil:
		job.RunAfterSec = metabot.RunAfter(s.RunAt.Sub(e.clock.Now()))
	case s.RunAfter != nil:
		job.RunAfterSec = metabot.RunAfter(s.RunAfter.Duration)
	}
	_, err = e.metabot.Schedule(ctx, job)
	if err == nil {
		at, due := mtime(e.clock.Now()), mtime(e.due)
		e.outcome(j, attempt, func(st *b24v1.ScheduledJobStatus) {
			st.Attempt = nil
			st.Phase = b24v1.PhaseScheduled
			st.ScheduledAt, st.RunAt = &at, &due
		})
		return nil
	}
	switch {
	case metabot.IsAmbiguous(err):
		// The attempt stays in status: it is what marks the outcome as unknown from now on.
		return outcomeUnknown(j, shortError(err))
	case metabot.IsPermanent(err):
		msg := fmt.Sprintf("Metabot refused the job and nothing was scheduled (%s); to send it again, set the annotation %s to a new value", shortError(err), b24v1.ResendAnnotation)
		e.outcome(j, attempt, func(st *b24v1.ScheduledJobStatus) {
			st.Attempt = nil
			st.Phase = b24v1.PhaseFailed
		})
		return managed.Stalled(b24v1.ReasonRemoteError, "%s", msg)
	default:
		// Nothing was scheduled: clear the attempt; the loop retries or waits for new
		// credentials.
		e.outcome(j, attempt, func(st *b24v1.ScheduledJobStatus) { st.Attempt = nil })
		return definiteFailure(err, 0)
	}
}

// dueOf is when a one-shot job sent at now is due to run.
func dueOf(j *b24v1.ScheduledJob, now time.Time) time.Time {
	switch s := j.Spec; {
	case s.RunAt != nil && s.RunAt.After(now):
		return s.RunAt.Time
	case s.RunAfter != nil:
		return now.Add(s.RunAfter.Duration)
	}
	return now
}

func scheduledMessage(runAt *metav1.Time) string {
	when := "now"
	if runAt != nil {
		when = runAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("Job scheduled in Metabot for %s; deleting this object cannot cancel it (Metabot has no cancel call)", when)
}

// outcomeUnknown is the stall of a job that may or may not have been scheduled. The message
// stays the same from one reconcile to the next.
func outcomeUnknown(j *b24v1.ScheduledJob, detail string) *managed.Error {
	if detail == "" {
		if c := meta.FindStatusCondition(j.Status.Conditions, b24v1.ConditionReady); c != nil && c.Reason == b24v1.ReasonOutcomeUnknown {
			return managed.Stalled(b24v1.ReasonOutcomeUnknown, "%s", c.Message)
		}
		detail = "the operator stopped after sending it, before recording the answer"
	}
	return managed.Stalled(b24v1.ReasonOutcomeUnknown, "%s", unknownMessage(detail))
}

func unknownMessage(detail string) string {
	return fmt.Sprintf("The job was sent but its outcome is unknown (%s): it may or may not be scheduled in Metabot, so it is not sent again automatically; to send it once more, set the annotation %s to a new value", detail, b24v1.ResendAnnotation)
}

// stillFailed repeats the condition of a job Metabot refused.
func stillFailed(j *b24v1.ScheduledJob) *managed.Error {
	if c := meta.FindStatusCondition(j.Status.Conditions, b24v1.ConditionReady); c != nil && c.Status == metav1.ConditionFalse {
		return managed.Stalled(c.Reason, "%s", c.Message)
	}
	return managed.Stalled(b24v1.ReasonRemoteError, "Metabot refused the job and nothing was scheduled; to send it again, set the annotation %s to a new value", b24v1.ResendAnnotation)
}

// definiteFailure is a send that certainly scheduled nothing: retried with backoff (or after
// the Retry-After Metabot asked for), or, for a refused token, stalled until it changes.
func definiteFailure(err error, stallRequeue time.Duration) *managed.Error {
	msg := shortError(err) + "; nothing was scheduled"
	switch {
	case metabot.IsAuth(err):
		return &managed.Error{Reason: b24v1.ReasonAuthFailed, Outcome: managed.Stall, RequeueAfter: stallRequeue, Err: err,
			Message: msg + ": Metabot refused the token; fix the Secret the Metabot references"}
	case metabot.IsRateLimited(err):
		return &managed.Error{Reason: b24v1.ReasonRateLimited, Outcome: managed.Retry, RequeueAfter: metabot.RetryAfter(err), Err: err, Message: msg + "; retrying"}
	}
	return &managed.Error{Reason: b24v1.ReasonRemoteError, Outcome: managed.Retry, RequeueAfter: metabot.RetryAfter(err), Err: err, Message: msg + "; retrying"}
}

// shortError is a metabot error without its package prefix.
func shortError(err error) string {
	return strings.TrimPrefix(err.Error(), "metabot: schedule job: ")
}

// ---- the at-most-once protocol ----

// outcome applies the outcome of a send to status, for the loop to write, and remembers it in
// this process: should that write fail, the attempt left in status is recorded with this
// outcome by the next reconcile instead of being reported OutcomeUnknown. A new process does
// not know it, and reports OutcomeUnknown rather than send again.
func (e *jobExternal) outcome(j *b24v1.ScheduledJob, a *b24v1.SendAttempt, apply func(*b24v1.ScheduledJobStatus)) {
	e.sent.put(j.UID, a, apply)
	apply(&j.Status)
}

// jobFor translates the spec into a Metabot job (without its timing).
func jobFor(j *b24v1.ScheduledJob) (metabot.Job, error) {
	s := j.Spec
	var job metabot.Job
	target := func(kind metabot.TargetKind, t *b24v1.JobTarget) metabot.Target {
		return metabot.Target{Kind: kind, ID: deref(t.ID), Code: deref(t.Code)}
	}
	switch {
	case s.Script != nil:
		job.Target = target(metabot.TargetScript, s.Script)
	case s.Trigger != nil:
		job.Target = target(metabot.TargetTrigger, s.Trigger)
	case s.Broadcast != nil:
		job.Target = target(metabot.TargetBroadcast, s.Broadcast)
	}
	job.LeadID, job.TicketID = deref(s.LeadID), deref(s.TicketID)
	job.Periodic = deref(s.Periodic)
	job.Condition = deref(s.Condition)
	if s.Params != nil {
		job.Params = s.Params.Raw
	}
	job.AddTags, job.RemoveTags = s.AddTags, s.RemoveTags
	if err := job.Validate(); err != nil {
		return job, managed.Stalled(b24v1.ReasonInvalidSpec, "%v", err)
	}
	return job, nil
}

// mtime is t as status holds it: UTC, whole seconds.
func mtime(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }

// EventMessage words the loop's events for jobs: a "create" is a send, and deleting the
// object touches nothing remotely (Metabot has no cancel call).
func (a *scheduledJobAdapter) EventMessage(reason string) (string, bool) {
	switch reason {
	case managed.EventCreated, managed.EventRecreated:
		return "Job sent to Metabot", true
	case managed.EventOrphaned, managed.EventDeleted:
		return "", false
	}
	return "", true
}
