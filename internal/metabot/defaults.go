package metabot

// The rate a Metabot bot without spec.rateLimit is sent jobs at; this is the one place it is
// declared.
const (
	DefaultRequestsPerSecond = 5
	DefaultBurst             = 10
)
