package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ScheduledJobSpec declares a job scheduled in a Metabot bot, once or on a cron schedule.
// +kubebuilder:validation:XValidation:rule="[has(self.script), has(self.trigger), has(self.broadcast)].filter(x, x).size() == 1",message="exactly one of script, trigger or broadcast must be set"
// +kubebuilder:validation:XValidation:rule="[has(self.runAt), has(self.runAfter), has(self.schedule)].filter(x, x).size() <= 1",message="at most one of runAt, runAfter or schedule may be set"
// +kubebuilder:validation:XValidation:rule="!has(self.timeZone) || has(self.schedule)",message="timeZone requires schedule",fieldPath=".timeZone"
// +kubebuilder:validation:XValidation:rule="!has(self.startingDeadlineSeconds) || has(self.schedule)",message="startingDeadlineSeconds requires schedule",fieldPath=".startingDeadlineSeconds"
// +kubebuilder:validation:XValidation:rule="!has(self.suspend) || has(self.schedule)",message="suspend requires schedule",fieldPath=".suspend"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.schedule) || self == oldSelf",message="the spec of a one-shot ScheduledJob is immutable: create a new object to run again"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.schedule) || has(self.schedule)",message="schedule cannot be removed from a cron ScheduledJob",fieldPath=".schedule"
type ScheduledJobSpec struct {
	// MetabotRef names the Metabot bot the job is scheduled in.
	MetabotRef LocalObjectReference `json:"metabotRef"`

	// Script runs a script: script_id or script_code.
	// +optional
	Script *JobTarget `json:"script,omitempty"`
	// Trigger runs a trigger: trigger_id or trigger_code.
	// +optional
	Trigger *JobTarget `json:"trigger,omitempty"`
	// Broadcast runs a broadcast: broadcast_id or broadcast_code.
	// +optional
	Broadcast *JobTarget `json:"broadcast,omitempty"`

	// LeadID is the Metabot lead (the conversation with one client) the job runs for. Sent as
	// lead_id. Optional.
	// +kubebuilder:validation:Minimum=1
	// +optional
	LeadID *int64 `json:"leadId,omitempty"`
	// TicketID is the Metabot ticket the job runs for. Sent as ticket_id. Optional.
	// +kubebuilder:validation:Minimum=1
	// +optional
	TicketID *int64 `json:"ticketId,omitempty"`

	// RunAt is when the job should run (RFC 3339). Sent as run_after_sec computed at the moment
	// of sending, so the Metabot server's time zone never matters; a past time is sent as 0.
	// At most one of runAt, runAfter and schedule; none of them means as soon as possible.
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`
	// +optional
	RunAt *metav1.Time `json:"runAt,omitempty"`
	// RunAfter delays the job from the moment it is sent (Go duration, e.g. 5m).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="runAfter must be a duration that is not negative, for example 5m"
	// +optional
	RunAfter *metav1.Duration `json:"runAfter,omitempty"`
	// Schedule is a standard 5-field cron expression (or a descriptor such as @daily): a new
	// Metabot job at every tick.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+\s+\S+\s+\S+\s+\S+\s+\S+)$`
	// +optional
	Schedule *string `json:"schedule,omitempty"`
	// TimeZone is the IANA zone the schedule is read in. Defaults to UTC.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	// +kubebuilder:validation:XValidation:rule="self != 'Local' && timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",message="timeZone must be a known IANA time zone"
	// +optional
	TimeZone *string `json:"timeZone,omitempty"`
	// StartingDeadlineSeconds: a tick missed by more than this is skipped and reported.
	// Defaults to no deadline for the most recent missed tick only (older missed ticks are
	// always skipped).
	// +kubebuilder:validation:Minimum=1
	// +optional
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`
	// Suspend stops new ticks while true. Defaults to false.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// Periodic asks Metabot to repeat the job on its own schedule. Sent as is_periodic.
	// Defaults to false.
	// +optional
	Periodic *bool `json:"periodic,omitempty"`
	// Condition is condition_script_code: JavaScript; the job runs only if it returns true.
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Condition *string `json:"condition,omitempty"`
	// Params are the request parameters the script receives: any JSON object. Sent as
	// script_request_params. Optional.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Params *apiextensionsv1.JSON `json:"params,omitempty"`
	// AddTags are lead tags Metabot adds when the job runs. Sent as add_tags, joined with
	// commas.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:Pattern=`^[^,]+$`
	// +kubebuilder:validation:items:MaxLength=255
	// +optional
	AddTags []string `json:"addTags,omitempty"`
	// RemoveTags are lead tags Metabot removes when the job runs. Sent as remove_tags, joined
	// with commas.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:Pattern=`^[^,]+$`
	// +kubebuilder:validation:items:MaxLength=255
	// +optional
	RemoveTags []string `json:"removeTags,omitempty"`
}

// JobTarget names a script, trigger or broadcast by exactly one of id or code.
// +kubebuilder:validation:XValidation:rule="has(self.id) != has(self.code)",message="exactly one of id or code must be set"
type JobTarget struct {
	// ID is the numeric id (script_id, trigger_id, broadcast_id).
	// +kubebuilder:validation:Minimum=1
	// +optional
	ID *int64 `json:"id,omitempty"`
	// Code is the code (script_code, trigger_code, broadcast_code).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Code *string `json:"code,omitempty"`
}

// Phases of a ScheduledJob.
const (
	PhasePending   = "Pending"
	PhaseScheduled = "Scheduled"
	PhaseFailed    = "Failed"
	PhaseActive    = "Active"
	PhaseSuspended = "Suspended"
)

// Tick outcomes recorded in a cron ScheduledJob's history.
const (
	TickSent    = "Sent"
	TickSkipped = "Skipped"
	TickFailed  = "Failed"
)

// TickRecord is one cron tick.
type TickRecord struct {
	// ScheduleTime is the tick's time.
	ScheduleTime metav1.Time `json:"scheduleTime"`
	// Outcome: Sent, Skipped (missed the deadline) or Failed.
	Outcome string `json:"outcome"`
	// Reason explains a Skipped or Failed tick.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is a human-readable explanation.
	// +optional
	Message string `json:"message,omitempty"`
	// SentAt is when Metabot accepted the job.
	// +optional
	SentAt *metav1.Time `json:"sentAt,omitempty"`
}

// SendAttempt records a send before it is made, so a crash can never lead to a second one.
type SendAttempt struct {
	// ScheduleTime is the cron tick being sent; empty for a one-shot job.
	// +optional
	ScheduleTime *metav1.Time `json:"scheduleTime,omitempty"`
	// StartedAt is when the attempt began.
	StartedAt metav1.Time `json:"startedAt"`
}

// ScheduledJobStatus is the observed state of a ScheduledJob.
type ScheduledJobStatus struct {
	CommonStatus `json:",inline"`
	// Phase: Pending, Scheduled or Failed (one-shot); Active or Suspended (cron).
	// +optional
	Phase string `json:"phase,omitempty"`
	// ScheduledAt is when Metabot accepted the (last) job.
	// +optional
	ScheduledAt *metav1.Time `json:"scheduledAt,omitempty"`
	// RunAt is when the (last) job is due to run.
	// +optional
	RunAt *metav1.Time `json:"runAt,omitempty"`
	// LastScheduleTime is the last cron tick that was sent.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime is the next cron tick.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// History holds the last cron ticks, newest first, bounded.
	// +optional
	History []TickRecord `json:"history,omitempty"`
	// Attempt is the send in flight: recorded before sending, cleared once the outcome is known.
	// +optional
	Attempt *SendAttempt `json:"attempt,omitempty"`
	// HandledResend is the value of the b24ops.io/resend annotation last acted upon.
	// +optional
	HandledResend string `json:"handledResend,omitempty"`
}

// ScheduledJob is a job scheduled in a Metabot bot, once or on a cron schedule.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mbjob,categories=b24ops
// +kubebuilder:selectablefield:JSONPath=`.spec.metabotRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Metabot",type=string,JSONPath=`.spec.metabotRef.name`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Time Zone",type=string,priority=1,JSONPath=`.spec.timeZone`
// +kubebuilder:printcolumn:name="Accepted At",type=string,JSONPath=`.status.scheduledAt`
// +kubebuilder:printcolumn:name="Next Run",type=string,priority=1,JSONPath=`.status.nextScheduleTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ScheduledJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ScheduledJobSpec `json:"spec"`
	// +kubebuilder:default={}
	Status ScheduledJobStatus `json:"status,omitempty"`
}

// ScheduledJobList is a list of ScheduledJobs.
// +kubebuilder:object:root=true
type ScheduledJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScheduledJob `json:"items"`
}

func init() { SchemeBuilder.Register(&ScheduledJob{}, &ScheduledJobList{}) }
