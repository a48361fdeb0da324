package rules

// Defaults that live in Go, not in the CRD (so GitOps tools see no drift). The rate-limit
// defaults are the clients' own (bitrix.DefaultRequestsPerSecond, metabot.DefaultRequestsPerSecond),
// and so are their HTTP timeouts, the Metabot URL and the OAuth token URL: the clients are
// where each default is declared once.
const (
	DefaultMaxBots      = 5
	DefaultEntityType   = "B24OPS"
	DefaultIframeWidth  = 350
	DefaultIframeHeight = 150
)
