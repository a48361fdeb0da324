// Package errclass is the vocabulary in which the remote clients (internal/bitrix,
// internal/metabot) say what a failure means: whether repeating the call can help, and which
// Ready reason a user should see. Each client decides it once, for each of its errors; the
// reconcile loop reads it and never looks at codes or HTTP statuses itself.
//
// It depends on nothing, so the clients stay free of Kubernetes and of the CRD types. The
// reasons are the Ready reasons of api/v1alpha1 (a test there keeps them equal).
package errclass

import (
	"errors"
	"time"
)

// Disposition says whether a failed call can be repeated.
type Disposition int

const (
	// Retryable: the call certainly did not take effect and the cause may pass (a rate
	// limit, a 5xx answered before running, a network failure before sending).
	Retryable Disposition = iota + 1
	// Terminal: the same call will fail the same way until something changes (the request,
	// the credentials or the remote state).
	Terminal
	// Ambiguous: the call may have taken effect although it failed. Repeating it is safe only
	// after re-reading the remote state.
	Ambiguous
)

func (d Disposition) String() string {
	switch d {
	case Retryable:
		return "retryable"
	case Terminal:
		return "terminal"
	case Ambiguous:
		return "ambiguous"
	}
	return "unknown"
}

// Reason is a Ready condition reason.
type Reason string

// The reasons a client can give. They equal the api/v1alpha1 Reason constants.
const (
	RemoteError      Reason = "RemoteError"
	RateLimited      Reason = "RateLimited"
	AuthFailed       Reason = "AuthFailed"
	InvalidSpec      Reason = "InvalidSpec"
	BotLimitExceeded Reason = "BotLimitExceeded"
	OutcomeUnknown   Reason = "OutcomeUnknown"
	// PortalUnreachable: the portal's host did not answer several requests in a row and the
	// client holds calls to it back for a while (its circuit is open).
	PortalUnreachable Reason = "PortalUnreachable"
)

// Class is what a client says about one failure.
type Class struct {
	Disposition Disposition
	Reason      Reason
	// RetryAfter, when positive, is how long the remote side asked to wait.
	RetryAfter time.Duration
	// Summary is the failure in one stable line for a condition message: no timestamps,
	// counters, retry delays or secrets, so a failure that repeats reads the same.
	Summary string
	// Hint, when set, tells the user what to do (it never holds a secret).
	Hint string
	// Gone says the object the call addressed no longer exists: for a delete, the work is
	// already done.
	Gone bool
}

// Classified is implemented by the clients' error types.
type Classified interface {
	error
	Class() Class
}

// Of returns the class of the first Classified error in err's chain.
func Of(err error) (Class, bool) {
	var c Classified
	if errors.As(err, &c) {
		return c.Class(), true
	}
	return Class{}, false
}
