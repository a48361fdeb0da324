package bitrix

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/b24ops/b24-operator/internal/outbound"
)

// Client calls the Bitrix24 REST API as one application on one portal. It is safe for
// concurrent use; create one per portal credentials and share a limiter per portal host.
type Client struct {
	hc             *http.Client
	limiter        *rate.Limiter
	portal         string
	clientID       string // webhook CLIENT_ID; empty for OAuth
	oauth          *oauthState
	maxRetries     int
	baseBackoff    time.Duration
	maxBackoff     time.Duration
	requestTimeout time.Duration
	callTimeout    time.Duration
	defaultPause   time.Duration
	circuit        *Circuit
	secrets        *redactor
	// maxResponseBytes caps one answer; budget bounds the answer bytes of all clients at once.
	maxResponseBytes int64
	budget           *outbound.Budget

	mu     sync.Mutex
	base   url.URL              // scheme, host and the path that methods are appended to
	paused map[string]time.Time // method -> end of its OPERATION_TIME_LIMIT pause
}

// New builds a Client. Exactly one of WithWebhook and WithOAuth is required.
func New(opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	// One request may always use its whole timeout.
	cfg.callTimeout = max(cfg.callTimeout, cfg.requestTimeout)
	if (cfg.webhook == nil) == (cfg.oauth == nil) {
		return nil, errors.New("bitrix24: exactly one of WithWebhook and WithOAuth is required")
	}
	c := &Client{
		maxRetries:     cfg.maxRetries,
		baseBackoff:    cfg.baseBackoff,
		maxBackoff:     cfg.maxBackoff,
		requestTimeout: cfg.requestTimeout,
		callTimeout:    cfg.callTimeout,
		defaultPause:   cfg.defaultPause,
		circuit:        cfg.circuit,
		secrets:        &redactor{},
		paused:         map[string]time.Time{},

		maxResponseBytes: cfg.maxResponseBytes,
		budget:           cfg.budget,
	}
	if cfg.webhook != nil {
		base, code, err := parseWebhookURL(cfg.webhook.url)
		if err != nil {
			return nil, err
		}
		c.base = *base
		c.clientID = cfg.webhook.clientID
		// The code is the credential; the URL path embeds it.
		// The client id is the imbot.v2 botToken too, which controls the bots.
		c.secrets.addFixed(code, cfg.webhook.url, base.Path, c.clientID)
	} else {
		base, err := parseBaseURL(cfg.oauth.portalURL)
		if err != nil {
			return nil, fmt.Errorf("bitrix24: portal URL: %w", err)
		}
		base.Path = strings.TrimSuffix(base.Path, "/") + "/rest/"
		c.base = *base
		if _, err := parseBaseURL(cfg.oauth.tokenURL); err != nil {
			return nil, fmt.Errorf("bitrix24: token URL: %w", err)
		}
		c.oauth = newOAuthState(cfg.oauth)
		c.secrets.addFixed(cfg.oauth.clientSecret)
		c.secrets.addTokens(cfg.oauth.tokens.AccessToken, cfg.oauth.tokens.RefreshToken)
	}
	hc, err := buildHTTPClient(cfg.httpClient, cfg.caPEM, cfg.policy)
	if err != nil {
		return nil, err
	}
	c.hc = hc
	c.limiter = cfg.limiter
	if c.limiter == nil {
		c.limiter = NewLimiter(cfg.rps, cfg.burst)
	}
	c.portal = cfg.portalLabel
	if c.portal == "" {
		c.portal = c.base.Host
	}
	c.hc.Transport = instrumentTransport(c.portal, c.hc.Transport)
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		// Never echo the URL: a webhook URL is a credential.
		return nil, errors.New("not an absolute http(s) URL")
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u, nil
}

// parseWebhookURL checks that raw looks like https://host/rest/USER_ID/CODE/ and returns it
// (with a trailing slash) and the code.
func parseWebhookURL(raw string) (*url.URL, string, error) {
	u, err := parseBaseURL(raw)
	if err != nil {
		return nil, "", fmt.Errorf("bitrix24: webhook URL: %w", err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 3 || parts[len(parts)-3] != "rest" || parts[len(parts)-1] == "" {
		return nil, "", errors.New("bitrix24: webhook URL must look like https://portal/rest/USER_ID/CODE/")
	}
	u.Path = "/" + strings.Join(parts, "/") + "/"
	u.RawPath = ""
	return u, parts[len(parts)-1], nil
}

func buildHTTPClient(given *http.Client, caPEM []byte, policy *outbound.Policy) (*http.Client, error) {
	hc := &http.Client{}
	if given != nil {
		cp := *given
		hc = &cp
	}
	// A 301/302 turns Go's POST into a GET without a body, and a redirect to another host
	// would carry the webhook code or the token there: the client decides itself (see
	// redirectTarget).
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if hc.Transport == nil {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			tr = dt.Clone()
		}
		// Reconciles of one portal run in parallel; with Go's default of 2 idle connections
		// per host the others would pay a TLS handshake each time, and that delay between
		// taking a limiter token and reaching Bitrix eats into the bucket's headroom.
		tr.MaxIdleConnsPerHost = 32
		hc.Transport = tr
	}
	if len(caPEM) > 0 {
		if err := trustCA(hc, caPEM); err != nil {
			return nil, err
		}
	}
	if policy.Active() {
		tr, ok := hc.Transport.(*http.Transport)
		if !ok {
			return nil, errors.New("bitrix24: WithOutboundPolicy needs an *http.Transport in WithHTTPClient")
		}
		hc.Transport = policy.Transport(tr.Clone())
	}
	return hc, nil
}

func trustCA(hc *http.Client, caPEM []byte) error {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("bitrix24: the CA bundle holds no PEM certificate")
	}
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		return errors.New("bitrix24: WithCABundle needs an *http.Transport in WithHTTPClient")
	}
	tr = tr.Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = pool
	hc.Transport = tr
	return nil
}

// CloseIdleConnections closes the client's idle connections; call it when the client is
// dropped (its Portal was deleted or its credentials changed).
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Endpoint returns the portal's current scheme and host (https://portal); the scheme changes
// when the portal redirected from http to https. It never contains the webhook path.
func (c *Client) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Scheme + "://" + c.base.Host
}

func (c *Client) endpoint(method string) string {
	c.mu.Lock()
	u := c.base
	c.mu.Unlock()
	u.Path += method
	return u.String()
}

// rebase moves the client to the scheme of a redirect's location on the same host (see
// redirectTarget), so every later call goes there directly.
func (c *Client) rebase(loc *url.URL) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if loc.Host == "" || (loc.Scheme != "https" && loc.Scheme != "http") {
		return errors.New("redirect without an absolute location")
	}
	if c.base.Scheme == "https" && loc.Scheme != "https" {
		return errors.New("refusing a redirect from https to http")
	}
	c.base.Scheme, c.base.Host = loc.Scheme, loc.Host
	return nil
}

// safety says what may be repeated after a failure whose outcome is unknown.
type safety int

const (
	// idempotent calls (reads, updates, unregister, register by CODE, app.register by
	// BOT_ID+CODE) are repeated after network errors and 5xx.
	idempotent safety = iota
	// notIdempotent calls (imbot.chat.add, imbot.chat.user.add, batch) are never repeated once
	// the request may have reached Bitrix; the error is marked Ambiguous instead.
	notIdempotent
)

// call runs one REST method and returns its `result`. It waits on the limiter before every
// request, retries where safe, refreshes an expired OAuth token once, follows one redirect, and
// pauses a method that hit its operating-time limit. The whole call, its retries and limiter
// waits included, ends within the call timeout (WithCallTimeout); a host whose circuit is open
// (WithCircuit) is not called at all.
func (c *Client) call(ctx context.Context, method string, p params, s safety) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(method, err)
	}
	if c.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.callTimeout)
		defer cancel()
	}
	if err := c.checkPaused(method); err != nil {
		return nil, err
	}
	var (
		retries    int
		refreshed  bool
		redirected bool
		// uncertain: an earlier attempt may have run, so a "no-op" answer to the repeat
		// (WRONG_REQUEST for an update that already happened) does not mean failure.
		uncertain bool
	)
	for {
		token, err := c.accessToken(ctx, method)
		if err != nil {
			return nil, err
		}
		body, err := c.encodeBody(method, p, token)
		if err != nil {
			return nil, fmt.Errorf("bitrix24 %s: encode request: %w", method, err)
		}
		ans, err := c.roundTrip(ctx, method, body)
		status, loc := ans.status, ans.loc
		if err != nil {
			var e *Error
			if !errors.As(err, &e) { // context cancelled or limiter wait impossible
				return nil, err
			}
			if e.Is(ErrPortalUnreachable) {
				// The circuit is open: nothing was sent, and repeating now cannot help.
				return nil, e
			}
			c.countRequest(method, e)
			// A failed dial never reached Bitrix: repeating is safe for every call. An answer
			// too large or a redirect to another host is a verdict: never repeated.
			if classify(e).retryable && (!e.Ambiguous || s == idempotent) && retries < c.maxRetries {
				uncertain = uncertain || e.Ambiguous
				if err := c.backoff(ctx, method, retries); err != nil {
					return nil, err
				}
				retries++
				continue
			}
			return nil, e
		}
		if loc != nil {
			if redirected {
				e := &Error{Code: codeTooManyRedirect, Method: method, HTTPStatus: status, Description: "the portal redirected twice"}
				c.countRequest(method, e)
				return nil, e
			}
			if err := c.rebase(loc); err != nil {
				e := &Error{Code: codeTooManyRedirect, Method: method, HTTPStatus: status, Description: err.Error()}
				c.countRequest(method, e)
				return nil, e
			}
			requestsTotal.WithLabelValues(c.portal, method, "redirect").Inc()
			redirected = true
			continue
		}
		res, e := ans.res, ans.remote
		c.countRequest(method, e)
		if e == nil {
			return res.Result, nil
		}
		e.Method = method
		c.sanitizeRemote(e)
		switch {
		case c.oauth != nil && !refreshed && e.Is(ErrExpiredToken):
			// Refused before running, so the retry is safe for every method.
			if _, err := c.refresh(ctx, method, token); err != nil {
				return nil, err
			}
			refreshed = true
			retriesTotal.WithLabelValues(c.portal, method).Inc()
			continue
		case isRateLimited(status, e): // 503 QUERY_LIMIT_EXCEEDED or a 429 rate limit (v2.go)
			// Refused before running: always safe to repeat, batch included.
			if retries < c.maxRetries {
				if err := c.backoff(ctx, method, retries); err != nil {
					return nil, err
				}
				retries++
				continue
			}
			e.RetryAfter = c.backoffDelay(retries)
			return nil, e
		case e.Is(ErrOperationTimeLimit):
			e.RetryAfter = c.pause(method, res.Time.OperatingResetAt)
			return nil, e
		case (status >= 500 && classify(e).retryable) || e.Is(ErrInvalidResponse):
			// The request reached Bitrix (or a proxy in front of it) and no verdict came
			// back: whether it ran is unknown.
			e.Ambiguous = true
			if s == idempotent && retries < c.maxRetries {
				uncertain = true
				if err := c.backoff(ctx, method, retries); err != nil {
					return nil, err
				}
				retries++
				continue
			}
			return nil, e
		case uncertain && isRepeatSymptom(e):
			// An earlier attempt may have run; this answer may be its consequence rather than
			// a failure (see isRepeatSymptom).
			e.Ambiguous = true
			return nil, e
		default:
			return nil, e
		}
	}
}

// isRepeatSymptom reports whether e is what Bitrix answers to the repeat of a call that
// already ran: WRONG_REQUEST for an update that now changes nothing (same title, existing
// member, no longer the owner), MAX_COUNT_ERROR for a register whose lost first attempt took
// the last free slot (the quota is checked before the CODE lookup), ACCESS_ERROR for a
// chat.leave that already left.
func isRepeatSymptom(e *Error) bool {
	return e.Is(ErrWrongRequest) || e.Is(ErrMaxCount) || e.Is(ErrAccessError)
}

// encodeBody builds the JSON body: the method's params plus CLIENT_ID (webhook, imbot.*) or
// auth (OAuth). The auth token goes in the body, not the URL, so it never shows in a URL.
func (c *Client) encodeBody(method string, p params, token string) ([]byte, error) {
	body := make(map[string]any, len(p)+2)
	maps.Copy(body, p)
	c.addIdentity(method, body) // CLIENT_ID (v1, batch) or botToken (imbot.v2), see v2.go
	if token != "" {
		body["auth"] = token
	}
	return json.Marshal(body)
}

// roundTrip sends one request after waiting on the limiter. It returns the decoded answer, or
// the redirect location, or an *Error for a transport failure (its URL stripped) or an
// unacceptable answer (too large, a redirect to another host), or a context error.
func (c *Client) roundTrip(ctx context.Context, method string, body []byte) (answer, error) {
	done, wait, ok := c.circuit.allow()
	if !ok {
		return answer{}, &Error{Code: codeUnreachable, Method: method, RetryAfter: wait,
			Description: "the portal did not answer several requests in a row; calls to it are held back, then tried again"}
	}
	start := time.Now()
	var err error
	if IsRoutine(ctx) {
		err = waitRoutine(ctx, c.limiter)
	} else {
		err = c.limiter.Wait(ctx)
	}
	limiterWaitSeconds.WithLabelValues(c.portal).Observe(time.Since(start).Seconds())
	if err != nil {
		done(neutral)
		if ctx.Err() != nil {
			return answer{}, ctxError(method, ctx.Err())
		}
		// rate.Limiter refuses to wait past the context's deadline.
		return answer{}, fmt.Errorf("bitrix24 %s: waiting for the rate limiter would pass the deadline: %w", method, context.DeadlineExceeded)
	}
	rctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint(method), bytes.NewReader(body))
	if err != nil {
		done(neutral)
		return answer{}, &Error{Code: codeNetwork, Method: method, Description: "cannot build the request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "b24-operator")
	sent := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// The caller's deadline passed while the portal kept silent: that says as much
			// about the host as a request timeout, unless there was hardly any time left.
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && time.Since(sent) >= time.Second {
				done(unreachable)
			} else {
				done(neutral)
			}
			return answer{}, ctxError(method, ctx.Err())
		}
		e := c.networkError(method, err)
		if e.Code == codeEgressRefused {
			done(neutral) // refused by the operator's own policy, never sent
		} else {
			done(unreachable)
		}
		return answer{}, e
	}
	if resp.StatusCode == http.StatusGatewayTimeout {
		done(unreachable) // a proxy in front of the portal waited for it in vain
	} else {
		done(answered)
	}
	// The body is closed unread beyond what was decoded: draining a hostile answer would cost
	// as much as reading it, and the connection is cheap to replace.
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		loc, err := c.redirectTarget(method, resp)
		if err != nil {
			return answer{status: resp.StatusCode}, err
		}
		return answer{status: resp.StatusCode, loc: loc}, nil
	}
	ans, err := c.readAnswer(rctx, method, resp)
	if err != nil && ctx.Err() != nil {
		return answer{}, ctxError(method, ctx.Err())
	}
	return ans, err
}

func ctxError(method string, err error) error {
	return fmt.Errorf("bitrix24 %s: %w", method, err)
}

// countRequest counts one HTTP request by its outcome (nil: success). It takes *Error, not
// error, so a nil *Error cannot turn into a non-nil interface.
func (c *Client) countRequest(method string, e *Error) {
	var err error
	if e != nil {
		err = e
	}
	requestsTotal.WithLabelValues(c.portal, method, outcomeLabel(err)).Inc()
}

func (c *Client) backoffDelay(attempt int) time.Duration {
	d := c.baseBackoff << min(attempt, 20)
	if d > c.maxBackoff || d <= 0 {
		d = c.maxBackoff
	}
	return d
}

// backoff sleeps before retry number attempt+1: exponential, with equal jitter so that the
// replicas hitting the same portal spread out.
func (c *Client) backoff(ctx context.Context, method string, attempt int) error {
	retriesTotal.WithLabelValues(c.portal, method).Inc()
	d := c.backoffDelay(attempt)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctxError(method, ctx.Err())
	case <-t.C:
		return nil
	}
}

// pause stops calls of method until resetAt (the operating-time window of that method resets;
// other methods are not affected) and returns how long that is.
func (c *Client) pause(method string, resetAt time.Time) time.Duration {
	d := time.Until(resetAt)
	if resetAt.IsZero() || d <= 0 {
		d = c.defaultPause
	}
	c.mu.Lock()
	c.paused[method] = time.Now().Add(d)
	c.mu.Unlock()
	return d
}

// checkPaused refuses a call of a paused method without sending it. It does not wait: the
// pause lasts up to 10 minutes, longer than a reconcile should block; the error is retryable
// and carries RetryAfter so the caller can requeue.
func (c *Client) checkPaused(method string) error {
	c.mu.Lock()
	until, ok := c.paused[method]
	if ok && !time.Now().Before(until) {
		delete(c.paused, method)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return &Error{
		Code:        ErrOperationTimeLimit.Code,
		Method:      method,
		Description: "the method is paused by the client until its operating-time window resets",
		RetryAfter:  time.Until(until),
	}
}

// redactor removes the credentials the client knows from any text it reports.
type redactor struct {
	mu       sync.RWMutex
	fixed    []string // webhook code and URL, client secret
	rotating []string // recent OAuth tokens
}

// maxRotating bounds the token list: tokens rotate every hour, only recent ones can show up.
const maxRotating = 8

func usable(s string) bool { return len(s) >= 4 && s != "/" }

func (r *redactor) addFixed(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if usable(s) {
			r.fixed = append(r.fixed, s)
		}
	}
	// Longest first, so a URL is replaced whole before the code inside it.
	slices.SortFunc(r.fixed, func(a, b string) int { return len(b) - len(a) })
}

func (r *redactor) addTokens(tokens ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range tokens {
		if usable(s) {
			r.rotating = append(r.rotating, s)
		}
	}
	if n := len(r.rotating); n > maxRotating {
		r.rotating = append([]string(nil), r.rotating[n-maxRotating:]...)
	}
}

func (r *redactor) redact(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, list := range [][]string{r.fixed, r.rotating} {
		for _, secret := range list {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
