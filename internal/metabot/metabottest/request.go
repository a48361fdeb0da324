package metabottest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// RunAtLayout is the format of run_at, in the Metabot server's time zone.
const RunAtLayout = "2006-01-02 15:04:05"

// maxRunAfterSec is about 68 years, far beyond any real schedule.
const maxRunAfterSec = 1<<31 - 1

// Request holds the decoded body of one schedule call. A nil field was absent from the body.
type Request struct {
	ScriptID            *int64          `json:"script_id,omitempty"`
	ScriptCode          *string         `json:"script_code,omitempty"`
	TriggerID           *int64          `json:"trigger_id,omitempty"`
	TriggerCode         *string         `json:"trigger_code,omitempty"`
	BroadcastID         *int64          `json:"broadcast_id,omitempty"`
	BroadcastCode       *string         `json:"broadcast_code,omitempty"`
	LeadID              *int64          `json:"lead_id,omitempty"`
	TicketID            *int64          `json:"ticket_id,omitempty"`
	RunAt               *string         `json:"run_at,omitempty"`
	RunAfterSec         *int64          `json:"run_after_sec,omitempty"`
	IsPeriodic          *bool           `json:"is_periodic,omitempty"`
	ConditionScriptCode *string         `json:"condition_script_code,omitempty"`
	ScriptRequestParams json.RawMessage `json:"script_request_params,omitempty"`
	AddTags             *string         `json:"add_tags,omitempty"`
	RemoveTags          *string         `json:"remove_tags,omitempty"`
}

// fieldErrors is a Laravel-style validation error map: field -> messages.
type fieldErrors map[string][]string

func (fe fieldErrors) add(field, format string, args ...any) {
	fe[field] = append(fe[field], fmt.Sprintf(format, args...))
}

// decodeRequest decodes and validates a body strictly, so that a client bug (a null, a
// number sent as a string, a misspelt field, two targets) fails a test instead of passing
// silently. It returns a non-nil error for a body that is not a JSON object (400) and
// field errors for a well-formed body with bad fields (422).
func decodeRequest(body []byte, loc *time.Location) (Request, fieldErrors, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return Request{}, nil, fmt.Errorf("the body must be a JSON object")
	}
	var req Request
	errs := fieldErrors{}
	positive := func(name string, dst **int64, min int64) {
		var v int64
		if err := json.Unmarshal(fields[name], &v); err != nil {
			errs.add(name, "must be an integer")
			return
		}
		if v < min {
			errs.add(name, "must be at least %d", min)
			return
		}
		*dst = &v
	}
	str := func(name string, dst **string, nonEmpty bool) {
		var v string
		if err := json.Unmarshal(fields[name], &v); err != nil {
			errs.add(name, "must be a string")
			return
		}
		if nonEmpty && v == "" {
			errs.add(name, "must not be empty")
			return
		}
		*dst = &v
	}
	for name, raw := range fields {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			errs.add(name, "must not be null")
			continue
		}
		switch name {
		case "script_id":
			positive(name, &req.ScriptID, 1)
		case "trigger_id":
			positive(name, &req.TriggerID, 1)
		case "broadcast_id":
			positive(name, &req.BroadcastID, 1)
		case "lead_id":
			positive(name, &req.LeadID, 1)
		case "ticket_id":
			positive(name, &req.TicketID, 1)
		case "run_after_sec":
			positive(name, &req.RunAfterSec, 0)
			// Keeps the due time computable without overflowing time.Duration.
			if req.RunAfterSec != nil && *req.RunAfterSec > maxRunAfterSec {
				errs.add(name, "must be at most %d", maxRunAfterSec)
				req.RunAfterSec = nil
			}
		case "script_code":
			str(name, &req.ScriptCode, true)
		case "trigger_code":
			str(name, &req.TriggerCode, true)
		case "broadcast_code":
			str(name, &req.BroadcastCode, true)
		case "condition_script_code":
			str(name, &req.ConditionScriptCode, false)
		case "add_tags":
			str(name, &req.AddTags, false)
		case "remove_tags":
			str(name, &req.RemoveTags, false)
		case "run_at":
			str(name, &req.RunAt, true)
			if req.RunAt != nil {
				if _, err := time.ParseInLocation(RunAtLayout, *req.RunAt, loc); err != nil {
					errs.add(name, "must match YYYY-MM-DD hh:mm:ss")
					req.RunAt = nil
				}
			}
		case "is_periodic":
			var v bool
			if err := json.Unmarshal(raw, &v); err != nil {
				errs.add(name, "must be a boolean")
				continue
			}
			req.IsPeriodic = &v
		case "script_request_params":
			if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
				errs.add(name, "must be a JSON object")
				continue
			}
			req.ScriptRequestParams = append(json.RawMessage(nil), raw...)
		default:
			errs.add(name, "unknown field")
		}
	}
	targets := 0
	for _, name := range []string{"script_id", "script_code", "trigger_id", "trigger_code", "broadcast_id", "broadcast_code"} {
		if _, ok := fields[name]; ok {
			targets++
		}
	}
	if targets != 1 {
		errs.add("target", "exactly one of script_id, script_code, trigger_id, trigger_code, broadcast_id, broadcast_code is required, got %d", targets)
	}
	if len(errs) > 0 {
		return Request{}, errs, nil
	}
	return req, nil, nil
}

// dueAt computes when the job is due: run_at wins over run_after_sec, as on Metabot; with
// neither, the job is due at once.
func (r Request) dueAt(received time.Time, loc *time.Location) time.Time {
	if r.RunAt != nil {
		if t, err := time.ParseInLocation(RunAtLayout, *r.RunAt, loc); err == nil {
			return t
		}
	}
	if r.RunAfterSec != nil {
		return received.Add(time.Duration(*r.RunAfterSec) * time.Second)
	}
	return received
}
