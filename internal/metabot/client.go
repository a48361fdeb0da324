package metabot

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/b24ops/b24-operator/internal/outbound"
)

// Defaults, kept in one place.
const (
	// DefaultBaseURL is the public Metabot platform.
	DefaultBaseURL = "https://app.metabot24.com"
	// DefaultAPIPath is the API root under the base URL. UNCONFIRMED: the docs give paths
	// relative to an unnamed root; public clients of the same API use /api/v1.
	DefaultAPIPath = "/api/v1"
	// DefaultTimeout bounds one Schedule call, from sending to the end of the response.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxWait bounds the wait for the rate limiter before a Schedule call: with
	// DefaultTimeout, one call takes at most 90 s.
	DefaultMaxWait = 60 * time.Second

	// DefaultMaxResponseBytes caps how much of a response is read and kept: Metabot's answers
	// are small, and only the status decides the outcome.
	DefaultMaxResponseBytes = 64 << 10
	userAgent               = "b24-operator-metabot"
)

// ErrConfig is wrapped by every error New returns.
var ErrConfig = errors.New("metabot: invalid client configuration")

// Scheduler is what a controller needs from this package; *Client implements it.
type Scheduler interface {
	Schedule(ctx context.Context, job Job) (Result, error)
}

// SchedulerFunc adapts a function to Scheduler, so a test can swap in one function.
type SchedulerFunc func(ctx context.Context, job Job) (Result, error)

// Schedule calls f.
func (f SchedulerFunc) Schedule(ctx context.Context, job Job) (Result, error) { return f(ctx, job) }

var _ Scheduler = (*Client)(nil)

// Result describes an accepted job. Metabot's response is undocumented and carries no job id
// that could be relied on, so acceptance is all there is to know.
type Result struct {
	// StatusCode is the 2xx status Metabot answered.
	StatusCode int
	// AcceptedAt is when the response arrived, by this process's clock.
	AcceptedAt time.Time
	// Body holds up to 64 KiB of the response for debugging. Do not log it: Metabot may echo
	// request data such as script parameters.
	Body []byte
}

// Client schedules jobs in one Metabot bot. It is safe for concurrent use.
type Client struct {
	endpoint string
	token    string
	http     *http.Client
	limiter  *rate.Limiter
	timeout  time.Duration
	maxWait  time.Duration
	label    string
	maxBody  int64
}

// Option configures a Client.
type Option func(*options)

type options struct {
	apiPath    string
	caPEM      []byte
	httpClient *http.Client
	limiter    *rate.Limiter
	timeout    time.Duration
	maxWait    time.Duration
	label      string
	maxBody    int64
	policy     *outbound.Policy
}

// WithAPIPath sets the API root under the base URL (default DefaultAPIPath). "" puts the API
// at the base URL itself.
func WithAPIPath(p string) Option { return func(o *options) { o.apiPath = p } }

// WithCABundle trusts the PEM certificates in pem in addition to the system roots, for
// self-hosted installations behind a private CA.
func WithCABundle(pem []byte) Option { return func(o *options) { o.caPEM = pem } }

// WithHTTPClient uses c instead of a client of the package's own. Redirects are never
// followed whatever c says (a redirect could carry the token elsewhere). Combined with
// WithCABundle, c's transport must be an *http.Transport (or nil), which is cloned.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithLimiter makes every call wait for l first. Share one limiter between all clients of
// the same Metabot bot so they respect one budget.
func WithLimiter(l *rate.Limiter) Option { return func(o *options) { o.limiter = l } }

// WithRateLimit is WithLimiter with a new limiter of rps requests per second and burst.
func WithRateLimit(rps float64, burst int) Option {
	return WithLimiter(rate.NewLimiter(rate.Limit(rps), burst))
}

// WithTimeout bounds one call from sending to the end of the response (default
// DefaultTimeout; 0 leaves only the caller's context). Time spent waiting for the rate
// limiter is not counted: WithMaxWait bounds that.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxWait bounds the wait for the rate limiter (default DefaultMaxWait; 0 leaves only the
// caller's context). A call that would wait longer is not sent (a Definite error, safe to
// repeat), so one call never holds its caller for longer than WithMaxWait plus WithTimeout.
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }

// WithLabel sets the metabot label of the metrics, e.g. "namespace/name" of the Metabot
// object. It defaults to the bot id.
func WithLabel(label string) Option { return func(o *options) { o.label = label } }

// New returns a client for bot botID at baseURL ("" means DefaultBaseURL) using token, the
// Bearer token of an API user of the bot.
func New(baseURL string, botID int64, token string, opts ...Option) (*Client, error) {
	o := options{apiPath: DefaultAPIPath, timeout: DefaultTimeout, maxWait: DefaultMaxWait, label: strconv.FormatInt(botID, 10), maxBody: DefaultMaxResponseBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if botID <= 0 {
		return nil, fmt.Errorf("%w: bot id must be positive", ErrConfig)
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	if o.maxBody < 1<<10 {
		return nil, fmt.Errorf("%w: the response cap must be at least 1 KiB", ErrConfig)
	}
	if err := o.policy.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if o.timeout < 0 || o.maxWait < 0 {
		return nil, fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	endpoint, err := endpointURL(baseURL, o.apiPath, botID)
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(o.httpClient, o.caPEM)
	if err != nil {
		return nil, err
	}
	if o.policy.Active() {
		tr, ok := hc.Transport.(*http.Transport)
		if !ok {
			return nil, fmt.Errorf("%w: an outbound policy needs an *http.Transport, not %T", ErrConfig, hc.Transport)
		}
		hc.Transport = o.policy.Transport(tr.Clone())
	}
	return &Client{
		endpoint: endpoint,
		token:    token,
		http:     hc,
		limiter:  o.limiter,
		timeout:  o.timeout,
		maxWait:  o.maxWait,
		label:    o.label,
		maxBody:  o.maxBody,
	}, nil
}

// checkToken refuses tokens that cannot go into a header. The token itself never appears in
// the error.
func checkToken(token string) error {
	if strings.TrimSpace(token) == "" {
		return fmt.Errorf("%w: empty token", ErrConfig)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: token contains whitespace or non-printable characters", ErrConfig)
		}
	}
	return nil
}

func endpointURL(baseURL, apiPath string, botID int64) (string, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("%w: base URL does not parse", ErrConfig)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("%w: base URL scheme must be https or http", ErrConfig)
	case u.Host == "":
		return "", fmt.Errorf("%w: base URL has no host", ErrConfig)
	case u.User != nil:
		// Credentials in the URL would end up in error messages and logs.
		return "", fmt.Errorf("%w: base URL must not contain credentials", ErrConfig)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%w: base URL must not have a query or fragment", ErrConfig)
	}
	apiPath = strings.Trim(apiPath, "/")
	if apiPath != "" {
		apiPath = "/" + apiPath
	}
	return strings.TrimRight(u.String(), "/") + apiPath + "/bots/" + strconv.FormatInt(botID, 10) + "/jobs/schedule", nil
}

func httpClient(base *http.Client, caPEM []byte) (*http.Client, error) {
	var hc http.Client
	if base != nil {
		hc = *base
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("%w: CA bundle holds no PEM certificate", ErrConfig)
		}
		var tr *http.Transport
		switch t := hc.Transport.(type) {
		case nil:
			tr = http.DefaultTransport.(*http.Transport).Clone()
		case *http.Transport:
			tr = t.Clone()
		default:
			return nil, fmt.Errorf("%w: a CA bundle needs an *http.Transport, not %T", ErrConfig, t)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
		hc.Transport = tr
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc, nil
}

// Endpoint returns the URL the client posts jobs to (it holds no secret), for messages.
func (c *Client) Endpoint() string { return c.endpoint }

// Schedule asks Metabot to schedule job. A nil error means Metabot answered 2xx. Otherwise
// the error is an *Error whose Kind says whether the job may have been scheduled; Schedule
// never retries.
func (c *Client) Schedule(ctx context.Context, job Job) (Result, error) {
	if err := job.Validate(); err != nil {
		return Result{}, &Error{Kind: Permanent, Message: err.Error(), Err: err}
	}
	body, err := json.Marshal(job)
	if err != nil {
		// Validate accepted it, so this is a bug rather than a bad job; still nothing was sent.
		return Result{}, &Error{Kind: Permanent, Message: "encode job: " + err.Error(), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, c.count(&Error{Kind: Definite, Message: "not sent: " + describe(err), Err: err})
	}
	if err := c.wait(ctx); err != nil {
		msg := "waiting would pass the deadline" // rate.Limiter refuses a wait it cannot finish in time
		if ctx.Err() != nil {
			msg = describe(ctx.Err())
		}
		return Result{}, c.count(&Error{Kind: Definite, Message: "not sent: rate limiter: " + msg, Err: err})
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}

	// wrote tells "never sent" (safe to retry) from "sent, outcome unknown". It stays true
	// once any attempt wrote the whole request: the transport only replays a POST when
	// nothing was written, and we would rather call a replayed success ambiguous than
	// call a possibly processed request definite.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{}, c.count(&Error{Kind: Permanent, Message: "build request: " + describe(err), Err: err})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Authorization", "Bearer "+c.token)

	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, c.count(transportError(err, wrote.Load()))
	}
	defer resp.Body.Close()
	// The status decides the outcome; a failure to read the rest of the body changes nothing,
	// and whatever comes past the cap is not read at all.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, c.maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		c.countAccepted()
		return Result{StatusCode: resp.StatusCode, AcceptedAt: time.Now(), Body: data}, nil
	}
	e := &Error{
		Kind:       classifyStatus(resp.StatusCode),
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Message:    errorMessage(data, c.token),
		Body:       data,
	}
	if e.Kind == Permanent && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Message = redirectMessage(resp, c.endpoint)
	}
	return Result{}, c.count(e)
}

func (c *Client) wait(ctx context.Context) error {
	if c.limiter == nil {
		return nil
	}
	if c.maxWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.maxWait)
		defer cancel()
	}
	start := time.Now()
	err := c.limiter.Wait(ctx)
	limiterWait.WithLabelValues(c.label).Observe(time.Since(start).Seconds())
	return err
}

// transportError classifies an error from http.Client.Do. The *url.Error wrapper is dropped:
// it repeats the URL and makes the message long.
func transportError(err error, wrote bool) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, outbound.ErrRefused) {
		// The operator's own egress policy: nothing was sent, and repeating cannot help.
		return &Error{Kind: Permanent, Message: "not sent: " + describe(err), Err: err}
	}
	if !wrote {
		// Dial, DNS, TLS handshake, or the context ended before the request was written:
		// Metabot cannot have seen the job.
		return &Error{Kind: Definite, Message: "not sent: " + describe(err), Err: err}
	}
	return &Error{Kind: Ambiguous, Message: "sent, no response: " + describe(err), Err: err}
}

// describe turns a transport error into a short message that stays the same from one
// attempt to the next and names no address, port or certificate (outbound.Describe's fixed
// vocabulary), so it can go into a Kubernetes condition.
func describe(err error) string { return outbound.Describe(err) }
