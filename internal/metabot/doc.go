// Package metabot is a client for the Metabot Bot API job scheduling call.
// It speaks HTTP only and knows nothing of Kubernetes or of the operator's CRD types.
//
// Metabot documents one call, POST {api root}/bots/{botId}/jobs/schedule. Several details are
// not documented and are therefore configurable here (see shared/METABOT.md):
//
//   - the API root: most likely {baseURL}/api/v1 (WithAPIPath changes the suffix);
//   - the auth header: the docs name "Authentication", public clients send
//     "Authorization: Bearer <token>", which is what this client sends;
//   - the response: undocumented, so any 2xx means "accepted" and no job id is read;
//   - errors and rate limits: undocumented, so the status code alone decides the outcome.
//
// The operator promises at-most-once scheduling, so every failure is classified exactly once,
// here, into a Kind: whether the job certainly was not scheduled (Definite, Auth, Permanent)
// or may have been (Ambiguous). The client never retries on its own; the caller decides.
package metabot
