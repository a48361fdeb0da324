package rules

// Defaults that live in Go, not in the CRD (so GitOps tools see no drift).
const (
	DefaultMaxBots       = 5
	DefaultEntityType    = "B24OPS"
	DefaultMetabotURL    = "https://app.metabot24.com"
	DefaultOAuthTokenURL = "https://oauth.bitrix.info/oauth/token/"
	DefaultPortalRPS     = 2
	DefaultPortalBurst   = 50
	DefaultMetabotRPS    = 5
	DefaultMetabotBurst  = 10
	DefaultIframeWidth   = 350
	DefaultIframeHeight  = 150
)
