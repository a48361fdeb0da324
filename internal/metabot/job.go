package metabot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TargetKind names what a job runs: a script (dialog scenario), a trigger or a broadcast.
type TargetKind string

// The three kinds of target Metabot can run.
const (
	TargetScript    TargetKind = "script"
	TargetTrigger   TargetKind = "trigger"
	TargetBroadcast TargetKind = "broadcast"
)

// Target is the one thing a job runs, named by exactly one of ID or Code. Build it with
// ScriptID, ScriptCode, TriggerID, TriggerCode, BroadcastID or BroadcastCode.
type Target struct {
	Kind TargetKind
	ID   int64
	Code string
}

// ScriptID targets the script (dialog scenario) with this id.
func ScriptID(id int64) Target { return Target{Kind: TargetScript, ID: id} }

// ScriptCode targets the script with this code name.
func ScriptCode(code string) Target { return Target{Kind: TargetScript, Code: code} }

// TriggerID targets the trigger with this id.
func TriggerID(id int64) Target { return Target{Kind: TargetTrigger, ID: id} }

// TriggerCode targets the trigger with this code name.
func TriggerCode(code string) Target { return Target{Kind: TargetTrigger, Code: code} }

// BroadcastID targets the broadcast with this id.
func BroadcastID(id int64) Target { return Target{Kind: TargetBroadcast, ID: id} }

// BroadcastCode targets the broadcast with this code name.
func BroadcastCode(code string) Target { return Target{Kind: TargetBroadcast, Code: code} }

// Job is one scheduling request. Zero values mean "absent" and are left out of the request
// body: Metabot ids start at 1, and an absent field is not the same as an explicit null.
type Job struct {
	// Target is required.
	Target Target
	// LeadID is the lead (user) the job runs for; 0 = absent.
	LeadID int64
	// TicketID is the ticket (data-model table row) the job runs for; 0 = absent.
	TicketID int64
	// RunAfterSec delays the run by this many seconds; nil = absent (run as soon as
	// possible). Build it with RunAfter. The client never sends run_at: its time zone is the
	// Metabot server's, which is undocumented, while a relative delay needs no zone.
	RunAfterSec *int64
	// Periodic asks Metabot to repeat the job (is_periodic); false is left out.
	Periodic bool
	// Condition is JavaScript that must return true for the job to be scheduled and run
	// (condition_script_code); "" = absent.
	Condition string
	// Params is passed to the script as script_request_params. It must be a JSON object
	// when set; it is passed through undecoded, so numbers keep their precision.
	Params json.RawMessage
	// AddTags and RemoveTags are sent comma-joined (add_tags, remove_tags). A tag may not
	// contain a comma or be empty.
	AddTags    []string
	RemoveTags []string
}

// RunAfter converts the time left until a target time into a RunAfterSec value. It rounds up
// to whole seconds, so the job never runs early, and sends a target in the past as 0.
func RunAfter(d time.Duration) *int64 {
	if d < 0 {
		d = 0
	}
	s := int64((d + time.Second - 1) / time.Second)
	return &s
}

// Validate reports why a job cannot be sent. Schedule calls it first, so an invalid job
// becomes a Permanent *Error wrapping ErrInvalidJob without reaching the network.
func (j Job) Validate() error {
	t := j.Target
	switch t.Kind {
	case TargetScript, TargetTrigger, TargetBroadcast:
	case "":
		return fmt.Errorf("%w: no target (script, trigger or broadcast)", ErrInvalidJob)
	default:
		return fmt.Errorf("%w: unknown target kind %q", ErrInvalidJob, t.Kind)
	}
	if (t.ID != 0) == (t.Code != "") {
		return fmt.Errorf("%w: %s needs exactly one of id or code", ErrInvalidJob, t.Kind)
	}
	if t.ID < 0 {
		return fmt.Errorf("%w: %s id must be positive", ErrInvalidJob, t.Kind)
	}
	if j.LeadID < 0 || j.TicketID < 0 {
		return fmt.Errorf("%w: lead and ticket ids must be positive", ErrInvalidJob)
	}
	if j.RunAfterSec != nil && *j.RunAfterSec < 0 {
		return fmt.Errorf("%w: run_after_sec must not be negative", ErrInvalidJob)
	}
	if len(j.Params) > 0 {
		if !json.Valid(j.Params) {
			return fmt.Errorf("%w: params are not valid JSON", ErrInvalidJob)
		}
		if trimmed := bytes.TrimLeft(j.Params, " \t\r\n"); trimmed[0] != '{' {
			return fmt.Errorf("%w: params must be a JSON object", ErrInvalidJob)
		}
	}
	for _, tags := range [][]string{j.AddTags, j.RemoveTags} {
		for _, tag := range tags {
			if tag == "" || strings.Contains(tag, ",") {
				return fmt.Errorf("%w: tag %q is empty or contains a comma", ErrInvalidJob, tag)
			}
		}
	}
	return nil
}

// wireJob is the request body. Every field is omitempty or a pointer, so absent fields are
// left out rather than sent as null or zero.
type wireJob struct {
	ScriptID            int64           `json:"script_id,omitempty"`
	ScriptCode          string          `json:"script_code,omitempty"`
	TriggerID           int64           `json:"trigger_id,omitempty"`
	TriggerCode         string          `json:"trigger_code,omitempty"`
	BroadcastID         int64           `json:"broadcast_id,omitempty"`
	BroadcastCode       string          `json:"broadcast_code,omitempty"`
	LeadID              int64           `json:"lead_id,omitempty"`
	TicketID            int64           `json:"ticket_id,omitempty"`
	RunAfterSec         *int64          `json:"run_after_sec,omitempty"`
	IsPeriodic          bool            `json:"is_periodic,omitempty"`
	ConditionScriptCode string          `json:"condition_script_code,omitempty"`
	ScriptRequestParams json.RawMessage `json:"script_request_params,omitempty"`
	AddTags             string          `json:"add_tags,omitempty"`
	RemoveTags          string          `json:"remove_tags,omitempty"`
}

// MarshalJSON encodes the job as the Metabot request body. It does not validate; call
// Validate first.
func (j Job) MarshalJSON() ([]byte, error) {
	w := wireJob{
		LeadID:              j.LeadID,
		TicketID:            j.TicketID,
		RunAfterSec:         j.RunAfterSec,
		IsPeriodic:          j.Periodic,
		ConditionScriptCode: j.Condition,
		ScriptRequestParams: j.Params,
		AddTags:             strings.Join(j.AddTags, ","),
		RemoveTags:          strings.Join(j.RemoveTags, ","),
	}
	switch j.Target.Kind {
	case TargetScript:
		w.ScriptID, w.ScriptCode = j.Target.ID, j.Target.Code
	case TargetTrigger:
		w.TriggerID, w.TriggerCode = j.Target.ID, j.Target.Code
	case TargetBroadcast:
		w.BroadcastID, w.BroadcastCode = j.Target.ID, j.Target.Code
	}
	return json.Marshal(w)
}
