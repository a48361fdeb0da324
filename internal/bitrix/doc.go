// Package bitrix is a typed client for the Bitrix24 REST API of one application on one portal.
// It speaks HTTP only and knows nothing of Kubernetes or of the operator's CRD types.
//
// A Client authenticates with an inbound webhook (WithWebhook) or as an OAuth application
// (WithOAuth), waits on a per-portal rate limiter before every request, and repeats a call only
// where that is safe:
//
//   - QUERY_LIMIT_EXCEEDED (503) is refused before running: always repeated, with backoff.
//   - Network errors and 5xx are repeated for idempotent calls (reads, updates, unregister,
//     imbot.register by CODE, imbot.app.register by BOT_ID+CODE), never for imbot.chat.add,
//     imbot.chat.user.add or a batch: those return an *Error with Ambiguous set, and the caller
//     re-reads the remote state before trying again.
//   - OPERATION_TIME_LIMIT (429) pauses that method only, until time.operating_reset_at; calls
//     of it fail at once with a retryable error carrying RetryAfter.
//   - expired_token makes an OAuth client refresh once (single-flight) and retry once.
//
// Every failure is an *Error carrying the Bitrix code and HTTP status; match it with errors.Is
// against the Err* sentinels and classify it with IsRetryable, IsTerminal, IsAuth, IsGone and
// IsAmbiguous. No error, metric label or log line carries a token, the client secret or the
// webhook code.
//
// The in-process simulator for tests lives in the bitrixtest subpackage.
package bitrix
