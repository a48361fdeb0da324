package managed

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/errclass"
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

func (o Outcome) String() string {
	switch o {
	case Wait:
		return "wait"
	case Stall:
		return "stall"
	}
	return "retry"
}

// Error is a failure with the Ready reason and message the user sees. Messages are one stable
// line without timestamps, counters or secrets.
type Error struct {
	Reason  string
	Message string
	Outcome Outcome
	// RequeueAfter overrides the backoff for Retry, the safety net for Wait and the slow
	// requeue for Stall.
	RequeueAfter time.Duration
	// Gone, on deletion, says the remote object is already gone: the delete is done.
	Gone bool
	Err  error
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

// Classify turns any error into an *Error. An *Error passes through; a client error is read
// by its class (internal/errclass), which the client decided:
//
//   - retryable: Retry, after the delay the remote side asked for when it said one;
//   - terminal: Stall, until something changes;
//   - ambiguous: Retry. The next pass observes the remote state again before acting, which
//     is what makes the repeat safe (a lost imbot.register is adopted by its CODE, a lost
//     imbot.chat.add found by its entity). An adapter whose remote side cannot be read back
//     (a Metabot job) turns ambiguity into its own stall before it gets here.
//
// Anything else (an API server error, a context deadline) is retried.
func Classify(what string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if c, ok := errclass.Of(err); ok {
		msg := what + ": " + c.Summary
		if c.Hint != "" {
			msg += "; " + c.Hint
		}
		out := &Error{Reason: string(c.Reason), Message: msg, Err: err, Gone: c.Gone}
		switch c.Disposition {
		case errclass.Terminal:
			out.Outcome = Stall
		default:
			out.Outcome, out.RequeueAfter = Retry, c.RetryAfter
		}
		return out
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Reason: b24v1.ReasonRemoteError, Message: what + ": request timed out", Outcome: Retry, Err: err}
	}
	return &Error{Reason: b24v1.ReasonRemoteError, Message: what + ": " + err.Error(), Outcome: Retry, Err: err}
}

func isConflict(err error) bool { return apierrors.IsConflict(err) }
