package metabot

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/b24ops/b24-operator/internal/errclass"
)

// Kind says what a failed Schedule call means for the job. It is decided once, in this
// package, so that callers never re-derive it from status codes or error strings.
type Kind int

const (
	// Definite: the request certainly did not take effect (it was never sent, the connection
	// or TLS handshake failed, or Metabot answered 408 or 429). Sending again is safe; wait
	// RetryAfter first when it is set.
	Definite Kind = iota + 1
	// Auth: Metabot refused the token (401 or 403). Nothing was scheduled, but sending again
	// only helps once the credentials change.
	Auth
	// Permanent: Metabot rejected the request (any other 4xx, or an unexpected redirect), or
	// the job is invalid and was never sent. Nothing was scheduled; the same request will
	// fail the same way.
	Permanent
	// Ambiguous: the request was sent and the outcome is unknown (5xx, timeout or connection
	// reset after the request was written). The job may or may not have been scheduled, so it
	// must not be sent again without a human deciding so.
	Ambiguous
)

// String returns the lower-case name used in messages and the metrics' outcome label.
func (k Kind) String() string {
	switch k {
	case Definite:
		return "definite"
	case Auth:
		return "auth"
	case Permanent:
		return "permanent"
	case Ambiguous:
		return "ambiguous"
	default:
		return "unknown"
	}
}

// NothingScheduled reports whether a failure of this kind guarantees that Metabot did not
// schedule the job. It is true for every kind except Ambiguous.
func (k Kind) NothingScheduled() bool {
	return k == Definite || k == Auth || k == Permanent
}

// ErrInvalidJob is wrapped by the *Error returned for a Job that fails Validate; such a job
// is never sent.
var ErrInvalidJob = errors.New("invalid job")

// Error is the only error type Schedule returns. Match it with errors.As, or use the Is*
// helpers. Its message is one short, stable line without the token or the request body.
type Error struct {
	// Kind classifies the failure; see the constants.
	Kind Kind
	// StatusCode is the HTTP status Metabot answered, or 0 when no response arrived.
	StatusCode int
	// RetryAfter is the delay Metabot asked for in a Retry-After header, or 0.
	RetryAfter time.Duration
	// Message is a short description: the reason from Metabot's error body when it had one,
	// or what failed locally.
	Message string
	// Body holds up to the client's response cap of the response body for debugging. It is never part of
	// Error() and should not be logged: Metabot may echo request data.
	Body []byte
	// Err is the underlying cause (a context, network or TLS error), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("metabot: schedule job: ")
	if e.StatusCode != 0 {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		if t := http.StatusText(e.StatusCode); t != "" {
			b.WriteString(" ")
			b.WriteString(t)
		}
		if e.Message != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Message)
	if e.Message == "" && e.Err != nil {
		b.WriteString(describe(e.Err))
	}
	fmt.Fprintf(&b, " (%s)", e.Kind)
	return b.String()
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded) and the like work.
func (e *Error) Unwrap() error { return e.Err }

// Class says what the failure means for the caller, decided here once.
func (e *Error) Class() errclass.Class {
	c := errclass.Class{Disposition: errclass.Terminal, Reason: errclass.RemoteError, RetryAfter: e.RetryAfter, Summary: e.Error()}
	switch e.Kind {
	case Definite:
		c.Disposition = errclass.Retryable
		if e.StatusCode == http.StatusTooManyRequests {
			c.Reason = errclass.RateLimited
		}
	case Auth:
		c.Reason = errclass.AuthFailed
		c.Hint = "Metabot refused the token; fix the Secret the Metabot references"
	case Permanent:
		if errors.Is(e, ErrInvalidJob) {
			c.Reason = errclass.InvalidSpec
		}
	case Ambiguous:
		c.Disposition, c.Reason = errclass.Ambiguous, errclass.OutcomeUnknown
	}
	return c
}

// kindOf returns the Kind of err, or 0 when err is not (or does not wrap) an *Error.
func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// IsAmbiguous reports whether the job may have been scheduled despite the error. Such a job
// must not be sent again automatically.
func IsAmbiguous(err error) bool { return kindOf(err) == Ambiguous }

// IsRetryable reports whether sending the same job again is both safe and useful: the
// request certainly did not take effect and the cause may be transient. Wait RetryAfter(err)
// first.
func IsRetryable(err error) bool { return kindOf(err) == Definite }

// IsAuth reports whether Metabot refused the credentials (401/403). Nothing was scheduled.
func IsAuth(err error) bool { return kindOf(err) == Auth }

// IsPermanent reports whether the request was rejected for good (a 4xx other than 401, 403,
// 408 and 429, or an invalid job). Nothing was scheduled.
func IsPermanent(err error) bool { return kindOf(err) == Permanent }

// IsRateLimited reports whether Metabot refused the call with 429 Too Many Requests. Such an
// error is also retryable; this tells callers that want a RateLimited reason apart.
func IsRateLimited(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusTooManyRequests
}

// RetryAfter returns the delay Metabot asked for, or 0 when err carries none.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// classifyStatus maps a non-2xx HTTP status to a Kind.
func classifyStatus(code int) Kind {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Auth
	// 408 and 429 are answered before the request is processed, so nothing was scheduled.
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return Definite
	case code >= 400 && code < 500:
		return Permanent
	// A redirect is not followed (it could carry the token to another host) and is not an
	// acceptance: the server that answered it did not schedule anything.
	case code >= 300 && code < 400:
		return Permanent
	default:
		// 5xx, and anything else we cannot interpret: the request reached a server that may
		// have acted on it.
		return Ambiguous
	}
}
