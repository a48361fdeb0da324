package bitrix

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/b24ops/b24-operator/internal/errclass"
)

// Error is every failure the client reports about a call: an error answered by Bitrix24
// ({"error": CODE, "error_description": ...}), an HTTP failure without a Bitrix body
// (Code "HTTP_502"...), a transport failure (Code "NETWORK_ERROR") or a refusal decided on the
// client side before sending (a paused method, an oversized batch).
//
// Match it with errors.Is against the sentinels below (by code, case-insensitively, because
// Bitrix mixes `expired_token` and `QUERY_LIMIT_EXCEEDED`) or with errors.As, never by comparing
// strings. Its message never contains a URL, a token or the webhook code.
type Error struct {
	// Code is the Bitrix error code as answered (case preserved).
	Code string
	// Description is Bitrix's error_description, with any credential the client knows redacted.
	Description string
	// HTTPStatus is the response status, 0 when no response was received or the error was
	// decided locally or came from inside a batch.
	HTTPStatus int
	// Method is the REST method that failed ("imbot.register", "batch"...).
	Method string
	// RetryAfter, when positive, is how long to wait before calling Method again
	// (OPERATION_TIME_LIMIT until operating_reset_at, QUERY_LIMIT_EXCEEDED after the client's
	// own retries ran out).
	RetryAfter time.Duration
	// Ambiguous is set when the request may have taken effect although the call failed
	// (a connection dropped after sending, a 5xx). The caller must re-read the remote state
	// before repeating a call that is not idempotent (imbot.chat.add, imbot.chat.user.add).
	Ambiguous bool

	cause error
	key   string // the batch key, for errors from result_error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("bitrix24")
	if e.Method != "" {
		b.WriteString(" ")
		b.WriteString(e.Method)
	}
	b.WriteString(": ")
	b.WriteString(e.Code)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.RetryAfter > 0 {
		round := time.Second
		if e.RetryAfter < 10*time.Second {
			round = time.Millisecond
		}
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter.Round(round))
	}
	if e.Ambiguous {
		b.WriteString("; outcome unknown, re-read before repeating")
	}
	return b.String()
}

// Is matches another *Error by code, case-insensitively, so errors.Is(err, ErrExpiredToken)
// holds whatever the method, status or description.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Code == "" {
		return false
	}
	return strings.EqualFold(e.Code, t.Code)
}

// Unwrap returns the transport cause of a NETWORK_ERROR (never a *url.Error: its URL, which
// carries the webhook code, is stripped), so errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.cause }

func sentinel(code string) *Error { return &Error{Code: code} }

// Sentinels for errors.Is. Only Code is meaningful on them.
var (
	// Authentication and authorization.
	ErrExpiredToken       = sentinel("expired_token")          // 401; the client refreshes once by itself
	ErrInvalidToken       = sentinel("invalid_token")          // 401
	ErrNoAuthFound        = sentinel("NO_AUTH_FOUND")          // 401
	ErrInvalidCredentials = sentinel("INVALID_CREDENTIALS")    // 403: wrong webhook code
	ErrInsufficientScope  = sentinel("insufficient_scope")     // 403
	ErrAccessDenied       = sentinel("ACCESS_DENIED")          // 403: e.g. imbot.* through a webhook without CLIENT_ID
	ErrWrongAuthType      = sentinel("WRONG_AUTH_TYPE")        // 403
	ErrInvalidGrant       = sentinel("invalid_grant")          // token endpoint: the application must be authorized again
	ErrInvalidClient      = sentinel("invalid_client")         // token endpoint: wrong client id or secret
	ErrPaymentRequired    = sentinel("PAYMENT_REQUIRED")       // 402: the portal's plan does not allow REST
	ErrMethodNotFound     = sentinel("ERROR_METHOD_NOT_FOUND") // 404

	// Limits and server trouble.
	ErrQueryLimitExceeded    = sentinel("QUERY_LIMIT_EXCEEDED")           // 503, refused before running
	ErrOperationTimeLimit    = sentinel("OPERATION_TIME_LIMIT")           // 429, this method only
	ErrInternalServerError   = sentinel("INTERNAL_SERVER_ERROR")          // 500
	ErrBatchLengthExceeded   = sentinel("ERROR_BATCH_LENGTH_EXCEEDED")    // more than 50 commands
	ErrBatchMethodNotAllowed = sentinel("ERROR_BATCH_METHOD_NOT_ALLOWED") // nested batch
	ErrNetwork               = sentinel(codeNetwork)                      // transport failure, no response
	ErrInvalidResponse       = sentinel(codeInvalidResponse)              // a 2xx body that is not a Bitrix answer
	ErrNotExecuted           = sentinel(codeNotExecuted)                  // a batch command skipped after halt
	ErrPortalUnreachable     = sentinel(codeUnreachable)                  // the host's circuit is open: not sent

	// Bots.
	ErrBotNotFound              = sentinel("BOT_ID_ERROR") // the bot is gone (or never existed)
	ErrAppIDError               = sentinel("APP_ID_ERROR") // the bot or chat app belongs to another application
	ErrMaxCount                 = sentinel("MAX_COUNT_ERROR")
	ErrCodeError                = sentinel("CODE_ERROR")
	ErrNameError                = sentinel("NAME_ERROR")
	ErrEventMessageAddError     = sentinel("EVENT_MESSAGE_ADD_ERROR")
	ErrEventWelcomeMessageError = sentinel("EVENT_WELCOME_MESSAGE_ERROR")
	ErrEventBotDeleteError      = sentinel("EVENT_BOT_DELETE_ERROR")
	ErrWrongRequest             = sentinel("WRONG_REQUEST")

	// Chat apps.
	ErrChatAppNotFound = sentinel("CHAT_APP_ID_ERROR")
	ErrIframeHTTPS     = sentinel("IFRAME_HTTPS")
	ErrHashError       = sentinel("HASH_ERROR")
	ErrParamsError     = sentinel("PARAMS_ERROR")
	ErrLangError       = sentinel("LANG_ERROR")

	// Chats.
	ErrUsersEmpty          = sentinel("USERS_EMPTY")
	ErrInvalidFormat       = sentinel("INVALID_FORMAT")
	ErrChatIDEmpty         = sentinel("CHAT_ID_EMPTY")
	ErrDialogIDEmpty       = sentinel("DIALOG_ID_EMPTY")
	ErrAccessError         = sentinel("ACCESS_ERROR")
	ErrWrongColor          = sentinel("WRONG_COLOR")
	ErrAvatarError         = sentinel("AVATAR_ERROR")
	ErrLeaveOwnerForbidden = sentinel("LEAVE_OWNER_FORBIDDEN")
)

// Codes the client makes up for failures that carry no Bitrix code.
const (
	codeNetwork         = "NETWORK_ERROR"
	codeInvalidResponse = "INVALID_RESPONSE"
	codeNotExecuted     = "NOT_EXECUTED"
	codeTooManyRedirect = "REDIRECT_ERROR"
	codeUnreachable     = "PORTAL_UNREACHABLE"
)

// errClass is what the operator needs to know about an error code. It is decided here, once;
// the helpers below and the client's own retry loop both read it.
type errClass struct {
	retryable bool // the same call may succeed later without any change
	auth      bool // the credentials (or their scope) are the problem
	gone      bool // the remote object is already gone: a delete counts as done
	// reason is the Ready reason the failure maps to; empty means RemoteError.
	reason errclass.Reason
}

// classes lists the codes the operator meets. A code that is not listed is classified by its
// HTTP status: 5xx retryable, anything else terminal.
var classes = map[string]errClass{
	"QUERY_LIMIT_EXCEEDED":  {retryable: true, reason: errclass.RateLimited},
	"OPERATION_TIME_LIMIT":  {retryable: true, reason: errclass.RateLimited},
	"INTERNAL_SERVER_ERROR": {retryable: true},
	codeNetwork:             {retryable: true},
	codeInvalidResponse:     {retryable: true},
	codeNotExecuted:         {retryable: true},
	codeUnreachable:         {retryable: true, reason: errclass.PortalUnreachable},

	// The client already refreshed once and retried; another expired_token is odd but a
	// later attempt (with a fresh refresh) can succeed.
	"EXPIRED_TOKEN":       {retryable: true, auth: true, reason: errclass.AuthFailed},
	"INVALID_TOKEN":       {auth: true, reason: errclass.AuthFailed},
	"NO_AUTH_FOUND":       {auth: true, reason: errclass.AuthFailed},
	"INVALID_CREDENTIALS": {auth: true, reason: errclass.AuthFailed},
	"INSUFFICIENT_SCOPE":  {auth: true, reason: errclass.AuthFailed},
	"ACCESS_DENIED":       {auth: true, reason: errclass.AuthFailed},
	"WRONG_AUTH_TYPE":     {auth: true, reason: errclass.AuthFailed},
	"INVALID_GRANT":       {auth: true, reason: errclass.AuthFailed},
	"INVALID_CLIENT":      {auth: true, reason: errclass.AuthFailed},
	"PAYMENT_REQUIRED":    {auth: true, reason: errclass.AuthFailed},

	"BOT_ID_ERROR":      {gone: true},
	"CHAT_APP_ID_ERROR": {gone: true},

	// Known domain errors: terminal whatever the HTTP status says (Bitrix's status sometimes
	// disagrees with its docs; a domain code means the request was judged, not lost).
	"MAX_COUNT_ERROR": {reason: errclass.BotLimitExceeded},
	// Refusals of what was sent: the spec has to change.
	"CODE_ERROR": {reason: errclass.InvalidSpec}, "NAME_ERROR": {reason: errclass.InvalidSpec},
	"EVENT_MESSAGE_ADD_ERROR": {reason: errclass.InvalidSpec}, "EVENT_WELCOME_MESSAGE_ERROR": {reason: errclass.InvalidSpec},
	"EVENT_BOT_DELETE_ERROR": {reason: errclass.InvalidSpec}, "IFRAME_HTTPS": {reason: errclass.InvalidSpec},
	"HASH_ERROR": {reason: errclass.InvalidSpec}, "PARAMS_ERROR": {reason: errclass.InvalidSpec},
	"LANG_ERROR": {reason: errclass.InvalidSpec}, "USERS_EMPTY": {reason: errclass.InvalidSpec},
	"INVALID_FORMAT": {reason: errclass.InvalidSpec},
	"WRONG_REQUEST":  {}, "APP_ID_ERROR": {}, "CHAT_ID_EMPTY": {},
	"DIALOG_ID_EMPTY": {}, "ACCESS_ERROR": {}, "WRONG_COLOR": {}, "AVATAR_ERROR": {},
	"LEAVE_OWNER_FORBIDDEN": {}, "TITLE_EMPTY": {}, "USER_ID_EMPTY": {},
	"ERROR_METHOD_NOT_FOUND": {}, "ERROR_BATCH_LENGTH_EXCEEDED": {},
	"ERROR_BATCH_METHOD_NOT_ALLOWED": {}, codeTooManyRedirect: {},
	codeResponseTooLarge: {}, // a broken or hostile endpoint: repeating reads the same flood
	codeEgressRefused:    {}, // the operator's outbound policy: only a spec or policy change helps
}

func classify(e *Error) errClass {
	if c, ok := classes[strings.ToUpper(e.Code)]; ok {
		return c
	}
	// 429 without a known code is the imbot.v2 request-rate limit (see isRateLimited).
	if e.HTTPStatus >= 500 || e.HTTPStatus == 429 {
		return errClass{retryable: true}
	}
	return errClass{}
}

// Class says what the failure means for the caller, decided here once: retryable, terminal
// or ambiguous, and the Ready reason. An ambiguous failure is ambiguous whatever its code: a
// MAX_COUNT_ERROR answered to the repeat of a register whose first attempt was lost may mean
// that attempt took the last slot for this very bot, so the caller re-reads (and adopts the
// bot) instead of reporting the limit.
func (e *Error) Class() errclass.Class {
	c := classify(e)
	out := errclass.Class{Disposition: errclass.Terminal, Reason: c.reason, RetryAfter: e.RetryAfter, Gone: c.gone,
		Summary: "Bitrix24 answered " + e.Code}
	if e.Description != "" {
		out.Summary += ": " + e.Description
	}
	if e.Is(ErrPortalUnreachable) {
		out.Summary = "the portal did not answer several requests in a row (timeouts or refused connections)"
		out.Hint = "calls to it are held back and tried again with a growing pause; other portals are not affected"
	}
	if out.Reason == "" {
		out.Reason = errclass.RemoteError
	}
	switch {
	case e.Ambiguous:
		out.Disposition, out.Reason = errclass.Ambiguous, errclass.RemoteError
	case c.auth:
		// An auth failure is terminal even when Bitrix24 calls it temporary (expired_token
		// after the client's own refresh): only new credentials help.
	case c.retryable:
		out.Disposition = errclass.Retryable
	}
	if e.Is(ErrInvalidGrant) {
		out.Hint = "the OAuth refresh token was refused (invalid_grant): the application must be authorized again and the Secret updated"
	}
	return out
}

func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsRetryable reports whether repeating the call later can succeed without any change:
// rate limits, operating-time limits, 5xx, network failures, and ambiguous outcomes (after
// re-reading the remote state).
func IsRetryable(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	return e.Ambiguous || classify(e).retryable
}

// IsTerminal reports whether the call will keep failing until something changes: the
// request, the credentials or the remote state (CODE_ERROR, APP_ID_ERROR, MAX_COUNT_ERROR,
// invalid_grant, insufficient_scope...). Context cancellation is neither terminal nor retryable.
func IsTerminal(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	return !e.Ambiguous && !classify(e).retryable
}

// IsAuth reports whether the credentials are the problem (wrong webhook code, expired or
// revoked tokens, missing scope, ACCESS_DENIED).
func IsAuth(err error) bool {
	e, ok := asError(err)
	return ok && classify(e).auth
}

// IsGone reports whether the object the call addressed no longer exists (BOT_ID_ERROR,
// CHAT_APP_ID_ERROR): for an unregister it means the work is already done.
func IsGone(err error) bool {
	e, ok := asError(err)
	return ok && classify(e).gone
}

// IsAmbiguous reports whether the failed call may nevertheless have taken effect.
func IsAmbiguous(err error) bool {
	e, ok := asError(err)
	return ok && e.Ambiguous
}

// RetryAfter returns the wait the error asks for, or 0.
func RetryAfter(err error) time.Duration {
	e, ok := asError(err)
	if !ok {
		return 0
	}
	return e.RetryAfter
}
