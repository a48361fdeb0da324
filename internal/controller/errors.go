package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/metabot"
)

// Outcome says how the loop treats a failure.
type Outcome int

const (
	// Retry backs off exponentially per object and tries again (Reconciling=True).
	Retry Outcome = iota
	// Wait waits for another object to change (Reconciling=True); watches bring it back, with
	// a slow requeue as a safety net.
	Wait
	// Stall gives up until the spec, a referenced object or the remote side changes
	// (Stalled=True); no hot requeue.
	Stall
)

// Error is a failure with the Ready reason and message the user sees. Messages are one stable
// line without timestamps, counters or secrets.
type Error struct {
	Reason  string
	Message string
	Outcome Outcome
	// RequeueAfter overrides the backoff for Retry, the safety net for Wait and the slow
	// requeue for Stall.
	RequeueAfter time.Duration
	Err          error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Stalled is a terminal failure.
func Stalled(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Outcome: Stall}
}

// Waiting is a wait for another object.
func Waiting(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Outcome: Wait}
}

// Retryable is a transient failure.
func Retryable(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Outcome: Retry}
}

// invalidSpecCodes are Bitrix24 refusals of what was sent: the spec must change.
var invalidSpecCodes = []string{
	"CODE_ERROR", "NAME_ERROR", "EVENT_MESSAGE_ADD_ERROR", "EVENT_WELCOME_MESSAGE_ERROR",
	"EVENT_BOT_DELETE_ERROR", "IFRAME_HTTPS", "HASH_ERROR", "LANG_ERROR", "PARAMS_ERROR",
	"USERS_EMPTY", "INVALID_FORMAT", "WRONG_AUTH_TYPE",
}

// classify turns any error into an *Error, deciding once for every kind what a Bitrix24 or
// Metabot failure means for the user.
func classify(what string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Reason: b24v1.ReasonRemoteError, Message: what + ": request timed out", Outcome: Retry, Err: err}
	}
	var be *bitrix.Error
	if errors.As(err, &be) {
		msg := fmt.Sprintf("%s: Bitrix24 answered %s", what, be.Code)
		if be.Description != "" {
			msg += ": " + be.Description
		}
		switch {
		case errors.Is(err, bitrix.ErrQueryLimitExceeded) || errors.Is(err, bitrix.ErrOperationTimeLimit):
			return &Error{Reason: b24v1.ReasonRateLimited, Message: msg, Outcome: Retry, Err: err}
		case errors.Is(err, bitrix.ErrMaxCount):
			return &Error{Reason: b24v1.ReasonBotLimitExceeded, Message: msg, Outcome: Stall, Err: err}
		case errors.Is(err, bitrix.ErrInvalidGrant):
			return &Error{Reason: b24v1.ReasonAuthFailed, Message: what + ": the OAuth refresh token was refused (invalid_grant): the application must be authorized again and the Secret updated", Outcome: Stall, Err: err}
		case bitrix.IsAuth(err):
			return &Error{Reason: b24v1.ReasonAuthFailed, Message: msg, Outcome: Stall, Err: err}
		case isAny(be.Code, invalidSpecCodes):
			return &Error{Reason: b24v1.ReasonInvalidSpec, Message: msg, Outcome: Stall, Err: err}
		case bitrix.IsRetryable(err):
			return &Error{Reason: b24v1.ReasonRemoteError, Message: msg, Outcome: Retry, Err: err}
		default:
			return &Error{Reason: b24v1.ReasonRemoteError, Message: msg, Outcome: Stall, Err: err}
		}
	}
	var me *metabot.Error
	if errors.As(err, &me) {
		msg := fmt.Sprintf("%s: %s", what, me.Error())
		switch {
		case metabot.IsAuth(err):
			return &Error{Reason: b24v1.ReasonAuthFailed, Message: msg, Outcome: Stall, Err: err}
		case metabot.IsRateLimited(err):
			return &Error{Reason: b24v1.ReasonRateLimited, Message: msg, Outcome: Retry, RequeueAfter: metabot.RetryAfter(err), Err: err}
		case metabot.IsAmbiguous(err):
			return &Error{Reason: b24v1.ReasonOutcomeUnknown, Message: msg, Outcome: Stall, Err: err}
		case metabot.IsRetryable(err):
			return &Error{Reason: b24v1.ReasonRemoteError, Message: msg, Outcome: Retry, RequeueAfter: metabot.RetryAfter(err), Err: err}
		default:
			return &Error{Reason: b24v1.ReasonRemoteError, Message: msg, Outcome: Stall, Err: err}
		}
	}
	return &Error{Reason: b24v1.ReasonRemoteError, Message: what + ": " + err.Error(), Outcome: Retry, Err: err}
}

func isAny(code string, codes []string) bool {
	for _, c := range codes {
		if strings.EqualFold(c, code) {
			return true
		}
	}
	return false
}

// removed reads the answer of an unregister: something already gone counts as removed, and so
// does another application's object, which is never ours to remove.
func removed(err error) error {
	if err == nil || bitrix.IsGone(err) || errors.Is(err, bitrix.ErrAppIDError) {
		return nil
	}
	return err
}
