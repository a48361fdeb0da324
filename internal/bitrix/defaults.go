package bitrix

// The rate of Bitrix24's standard plans: a bucket of 50 requests draining 2 per second, per
// portal. A Portal without spec.rateLimit gets these; this is the one place they are declared.
const (
	DefaultRequestsPerSecond = 2
	DefaultBurst             = 50
)
