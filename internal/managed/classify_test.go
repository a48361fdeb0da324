package managed_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/errclass"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/metabot"
)

// The clients classify their errors; the loop only applies the outcome. These cases pin the
// policy end to end for the errors the operator meets.
func TestClassifyClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		wantOutcome managed.Outcome
		wantReason  string
		wantAfter   time.Duration
		wantGone    bool
	}{
		{"MAX_COUNT_ERROR is the bot limit: stall", &bitrix.Error{Code: "MAX_COUNT_ERROR", Method: "imbot.register"}, managed.Stall, b24v1.ReasonBotLimitExceeded, 0, false},
		{"an ambiguous MAX_COUNT_ERROR (a lost register took the slot) is retried at once, to adopt the bot",
			&bitrix.Error{Code: "MAX_COUNT_ERROR", Method: "imbot.register", Ambiguous: true}, managed.Retry, b24v1.ReasonRemoteError, 0, false},
		{"QUERY_LIMIT_EXCEEDED is rate limiting, after the delay asked", &bitrix.Error{Code: "QUERY_LIMIT_EXCEEDED", RetryAfter: 3 * time.Second}, managed.Retry, b24v1.ReasonRateLimited, 3 * time.Second, false},
		{"a 5xx is retried", &bitrix.Error{Code: "HTTP_502", HTTPStatus: 502}, managed.Retry, b24v1.ReasonRemoteError, 0, false},
		{"a refused token stalls as AuthFailed", &bitrix.Error{Code: "invalid_token", HTTPStatus: 401}, managed.Stall, b24v1.ReasonAuthFailed, 0, false},
		{"expired_token after the client's own refresh stalls as AuthFailed", &bitrix.Error{Code: "expired_token", HTTPStatus: 401}, managed.Stall, b24v1.ReasonAuthFailed, 0, false},
		{"a refusal of what was sent is InvalidSpec", &bitrix.Error{Code: "CODE_ERROR"}, managed.Stall, b24v1.ReasonInvalidSpec, 0, false},
		{"an unknown domain code stalls as RemoteError", &bitrix.Error{Code: "SOMETHING_NEW", HTTPStatus: 400}, managed.Stall, b24v1.ReasonRemoteError, 0, false},
		{"BOT_ID_ERROR says the object is gone", &bitrix.Error{Code: "BOT_ID_ERROR"}, managed.Stall, b24v1.ReasonRemoteError, 0, true},
		{"a wrapped client error keeps its class", fmt.Errorf("register bot %q: %w", "x", &bitrix.Error{Code: "MAX_COUNT_ERROR"}), managed.Stall, b24v1.ReasonBotLimitExceeded, 0, false},
		{"Metabot 429 is rate limiting after Retry-After", &metabot.Error{Kind: metabot.Definite, StatusCode: http.StatusTooManyRequests, RetryAfter: time.Minute}, managed.Retry, b24v1.ReasonRateLimited, time.Minute, false},
		{"Metabot refusing the token stalls", &metabot.Error{Kind: metabot.Auth, StatusCode: 401}, managed.Stall, b24v1.ReasonAuthFailed, 0, false},
		{"a Metabot 4xx stalls", &metabot.Error{Kind: metabot.Permanent, StatusCode: 422}, managed.Stall, b24v1.ReasonRemoteError, 0, false},
		{"an invalid job is InvalidSpec", &metabot.Error{Kind: metabot.Permanent, Err: metabot.ErrInvalidJob}, managed.Stall, b24v1.ReasonInvalidSpec, 0, false},
		{"a context deadline is retried", context.DeadlineExceeded, managed.Retry, b24v1.ReasonRemoteError, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := managed.Classify("act", tc.err)
			if e.Outcome != tc.wantOutcome || e.Reason != tc.wantReason || e.RequeueAfter != tc.wantAfter || e.Gone != tc.wantGone {
				t.Fatalf("got %s %s after %v gone %v (%q), want %s %s after %v gone %v",
					e.Outcome, e.Reason, e.RequeueAfter, e.Gone, e.Message, tc.wantOutcome, tc.wantReason, tc.wantAfter, tc.wantGone)
			}
		})
	}
}

// A condition message must read the same on every retry: no delays or counters in it.
func TestClassifiedMessagesAreStable(t *testing.T) {
	a := managed.Classify("act", &bitrix.Error{Code: "QUERY_LIMIT_EXCEEDED", RetryAfter: time.Second})
	b := managed.Classify("act", &bitrix.Error{Code: "QUERY_LIMIT_EXCEEDED", RetryAfter: 2 * time.Second})
	if a.Message != b.Message {
		t.Fatalf("%q != %q", a.Message, b.Message)
	}
}

// The clients' reasons are the API's Ready reasons.
func TestReasonsMatchTheAPI(t *testing.T) {
	for got, want := range map[errclass.Reason]string{
		errclass.RemoteError: b24v1.ReasonRemoteError, errclass.RateLimited: b24v1.ReasonRateLimited,
		errclass.AuthFailed: b24v1.ReasonAuthFailed, errclass.InvalidSpec: b24v1.ReasonInvalidSpec,
		errclass.BotLimitExceeded: b24v1.ReasonBotLimitExceeded, errclass.OutcomeUnknown: b24v1.ReasonOutcomeUnknown,
		errclass.PortalUnreachable: b24v1.ReasonPortalUnreachable,
	} {
		if string(got) != want {
			t.Errorf("errclass %q != api %q", got, want)
		}
	}
}
