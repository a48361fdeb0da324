package bitrix

import (
	"errors"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/b24ops/b24-operator/internal/outbound"
)

// Option configures a Client. Defaults live in defaultConfig, in one place.
type Option func(*config) error

type config struct {
	webhook *webhookConfig
	oauth   *oauthConfig

	caPEM       []byte
	httpClient  *http.Client
	limiter     *rate.Limiter
	rps         float64
	burst       int
	portalLabel string

	maxRetries     int
	baseBackoff    time.Duration
	maxBackoff     time.Duration
	requestTimeout time.Duration
	callTimeout    time.Duration
	defaultPause   time.Duration
	circuit        *Circuit

	maxResponseBytes int64
	budget           *outbound.Budget
	policy           *outbound.Policy
}

type webhookConfig struct {
	url      string
	clientID string
}

type oauthConfig struct {
	portalURL    string
	clientID     string
	clientSecret string
	tokenURL     string
	tokens       Tokens
	store        TokenStore
}

// DefaultTokenURL is Bitrix24's OAuth server, used when WithOAuth gets an empty tokenURL.
const DefaultTokenURL = "https://oauth.bitrix.info/oauth/token/"

func defaultConfig() config {
	return config{
		// Bitrix24's standard plans: burst 50, draining 2 per second.
		rps:   DefaultRequestsPerSecond,
		burst: DefaultBurst,
		// Four retries with 0.5s, 1s, 2s, 4s (jittered) cover a full bucket draining at 2/s.
		maxRetries:  4,
		baseBackoff: 500 * time.Millisecond,
		maxBackoff:  10 * time.Second,
		// Bitrix stops a request after 60 s; leave room for the network on top.
		requestTimeout: 75 * time.Second,
		// A whole call, retries and limiter waits included: one request that runs into the
		// portal's own 60 s limit, plus room for a quick retry; never minutes of one worker.
		callTimeout: DefaultCallTimeout,
		// When a 429 OPERATION_TIME_LIMIT carries no operating_reset_at, pause the method this
		// long (the accounting window is 10 minutes).
		defaultPause: time.Minute,

		maxResponseBytes: DefaultMaxResponseBytes,
		budget:           defaultBudget,
	}
}

// WithWebhook authenticates with an inbound webhook: every call is POSTed to
// {webhookURL}{method}, where webhookURL looks like https://portal/rest/1/xxxx/. clientID is
// sent as CLIENT_ID with every imbot.* call; it names the application ("custom"+clientID) that
// owns the bots, and with it the 5-bot quota.
func WithWebhook(webhookURL, clientID string) Option {
	return func(c *config) error {
		if webhookURL == "" || clientID == "" {
			return errors.New("bitrix24: WithWebhook needs a webhook URL and a client id")
		}
		c.webhook = &webhookConfig{url: webhookURL, clientID: clientID}
		return nil
	}
}

// WithOAuth authenticates as an OAuth application: calls go to {portalURL}/rest/{method} with
// the access token in the `auth` parameter. On expired_token (or when tokens holds no access
// token) the client refreshes once through tokenURL (DefaultTokenURL when empty), single-flight,
// hands the rotated tokens to store (may be nil) and retries the call once.
func WithOAuth(portalURL, clientID, clientSecret, tokenURL string, tokens Tokens, store TokenStore) Option {
	return func(c *config) error {
		if portalURL == "" || clientID == "" || clientSecret == "" {
			return errors.New("bitrix24: WithOAuth needs a portal URL, a client id and a client secret")
		}
		if tokens.AccessToken == "" && tokens.RefreshToken == "" {
			return errors.New("bitrix24: WithOAuth needs at least a refresh token")
		}
		if tokenURL == "" {
			tokenURL = DefaultTokenURL
		}
		c.oauth = &oauthConfig{
			portalURL: portalURL, clientID: clientID, clientSecret: clientSecret,
			tokenURL: tokenURL, tokens: tokens, store: store,
		}
		return nil
	}
}

// WithCABundle trusts the PEM certificates in addition to the system roots (on-premise
// portals, the simulator). It applies to the client from WithHTTPClient too, as long as that
// client's Transport is nil or an *http.Transport.
func WithCABundle(pem []byte) Option {
	return func(c *config) error {
		c.caPEM = append([]byte(nil), pem...)
		return nil
	}
}

// WithLimiter makes the client wait on l before every HTTP request. Share one limiter per
// portal host between all clients of that portal: Bitrix keys its bucket by source address, so
// all of them draw from the same one. Build it with NewLimiter to keep the headroom that jitter
// needs.
func WithLimiter(l *rate.Limiter) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("bitrix24: WithLimiter(nil)")
		}
		c.limiter = l
		return nil
	}
}

// WithRateLimit sets the portal's bucket (requests per second, burst) used to build the
// client's own limiter when WithLimiter is not given. Defaults: 2 per second, burst 50.
func WithRateLimit(rps float64, burst int) Option {
	return func(c *config) error {
		if rps <= 0 || burst < 1 {
			return errors.New("bitrix24: WithRateLimit needs rps > 0 and burst >= 1")
		}
		c.rps, c.burst = rps, burst
		return nil
	}
}

// WithHTTPClient uses hc for the requests. The client works on a copy: it turns off automatic
// redirects (a redirected POST would be replayed as a GET) and follows a portal's domain change
// itself.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("bitrix24: WithHTTPClient(nil)")
		}
		c.httpClient = hc
		return nil
	}
}

// WithPortalLabel sets the `portal` label of the client's metrics. Defaults to the host of the
// portal URL. Never pass anything secret.
func WithPortalLabel(host string) Option {
	return func(c *config) error {
		c.portalLabel = host
		return nil
	}
}

// WithRetries sets how often a call is repeated where that is safe (QUERY_LIMIT_EXCEEDED
// always; network errors and 5xx only for idempotent calls) and the exponential backoff between
// attempts: base, doubled each time, jittered, capped at max. Defaults: 4 retries, 500ms, 10s.
// maxRetries 0 disables retries.
func WithRetries(maxRetries int, base, max time.Duration) Option {
	return func(c *config) error {
		if maxRetries < 0 || base <= 0 || max < base {
			return errors.New("bitrix24: WithRetries needs maxRetries >= 0 and 0 < base <= max")
		}
		c.maxRetries, c.baseBackoff, c.maxBackoff = maxRetries, base, max
		return nil
	}
}

// WithRequestTimeout bounds one HTTP request (WithCallTimeout bounds the whole call with its
// retries). Defaults to 75s: Bitrix stops a request after 60s.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("bitrix24: WithRequestTimeout needs a positive duration")
		}
		c.requestTimeout = d
		return nil
	}
}

// DefaultCallTimeout bounds one call with its retries (WithCallTimeout).
const DefaultCallTimeout = 90 * time.Second

// WithCallTimeout bounds one call as a whole: every attempt, the backoff between them and the
// waits on the rate limiter. Default DefaultCallTimeout; the caller's context may end it
// sooner. Without it a portal that never answers would hold the caller for a request timeout
// per attempt (five attempts of 75 s).
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("bitrix24: WithCallTimeout needs a positive duration")
		}
		c.callTimeout = d
		return nil
	}
}

// WithCircuit makes the client hold calls back while the host's circuit is open (see
// Circuit): they fail at once with ErrPortalUnreachable, without a request. Share one Circuit
// per portal host between all clients of that host.
func WithCircuit(cb *Circuit) Option {
	return func(c *config) error {
		if cb == nil {
			return errors.New("bitrix24: WithCircuit(nil)")
		}
		c.circuit = cb
		return nil
	}
}

// NewLimiter builds the client-side limiter for a portal whose bucket holds burst requests and
// drains rps per second. It keeps headroom (90% of the rate, a tenth of the burst, at least
// one): Bitrix measures arrival times, and network jitter can bring two requests closer than
// the client sent them, so a limiter matching the bucket exactly would still see 503s.
func NewLimiter(rps float64, burst int) *rate.Limiter {
	head := burst / 10
	if head < 1 {
		head = 1
	}
	b := burst - head
	if b < 1 {
		b = 1
	}
	return rate.NewLimiter(rate.Limit(rps*0.9), b)
}
