// Package bitrix is a typed client for the Bitrix24 REST API of one application on one portal.
// It speaks HTTP only and knows nothing of Kubernetes or of the operator's CRD types.
//
// A Client authenticates with an inbound webhook (WithWebhook) or as an OAuth application
// (WithOAuth), waits on a per-portal rate limiter before every request, and repeats a call only
// where that is safe:
//
//   - QUERY_LIMIT_EXCEEDED (503), and any HTTP 429 other than OPERATION_TIME_LIMIT (the
//     imbot.v2 pages' rate limit), is refused before running: always repeated, with backoff.
//   - Network errors and 5xx are repeated for idempotent calls (reads, updates, unregister,
//     imbot.register by CODE, imbot.v2.Bot.register by code, imbot.app.register by
//     BOT_ID+CODE, command registration by bot+command in both APIs), never for
//     imbot.chat.add, imbot.chat.user.add, a bot token rotation or a batch: those return an
//     *Error with Ambiguous set, and the caller re-reads the remote state before trying again.
//   - OPERATION_TIME_LIMIT (429) pauses that method only, until time.operating_reset_at; calls
//     of it fail at once with a retryable error carrying RetryAfter.
//   - expired_token makes an OAuth client refresh once (single-flight) and retry once.
//
// Chatbots 2.0 (imbot.v2.*: Revision, RegisterV2, UpdateV2, RotateBotTokenV2, GetBotV2,
// ListBotsV2, UnregisterV2, Command*V2, ListCommandsV2) share all of that. A webhook client sends
// its client id as CLIENT_ID to v1 methods and as botToken to v2 methods (the same application,
// "custom"+id), and refuses before sending a v2 registration whose token is longer than
// MaxBotTokenLength. Nothing in this package calls imbot.v2.Event.get, which polls and
// acknowledges a bot's events: they belong to the team's own code.
//
// Every failure is an *Error carrying the Bitrix code and HTTP status; match it with errors.Is
// against the Err* sentinels and classify it with IsRetryable, IsTerminal, IsAuth, IsGone and
// IsAmbiguous. No error, metric label or log line carries a token, the client secret, the
// webhook code or the client id (the v2 bot token).
//
// The in-process simulator for tests lives in the bitrixtest subpackage.
package bitrix
