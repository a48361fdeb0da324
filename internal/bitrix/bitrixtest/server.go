// Package bitrixtest is an in-process simulator of one Bitrix24 portal, faithful to the
// behaviour the operator depends on (shared/BITRIX24.md): webhook and OAuth authentication,
// the leaky-bucket rate limit, operating-time limits, batch, bot CODE deduplication across
// applications, the bot quota, chat apps, group chats and their no-op-update errors, bot
// commands of both APIs (commands.go) and the imbot.v2 bot API (v2.go, shared/BITRIX24-V2.md),
// where every bot records the API that registered it.
// It also injects faults (HTML or empty 5xx bodies, latency, a dropped connection after the
// call took effect, arbitrary Bitrix errors, redirects) and records every call for tests.
//
// NewServer starts it on an HTTPS httptest server; NewHandler returns the bare http.Handler for
// a binary that serves it on its own listener.
package bitrixtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// Option configures the simulated portal.
type Option func(*config)

type config struct {
	limit      bool
	burst      int
	perSecond  float64
	maxBots    int
	scopes     []string
	tokenTTL   time.Duration
	baseURL    string
	memberID   string
	refreshTTL time.Duration
	v2         v2Config // imbot.v2 and commands (v2.go)
}

func defaultConfig() config {
	return config{
		limit: true, burst: 50, perSecond: 2, // standard plans
		maxBots:  5,
		scopes:   []string{"imbot", "im", "user"},
		tokenTTL: time.Hour, refreshTTL: 180 * 24 * time.Hour,
		memberID: "b24sim0000000000000000000000000",
		v2:       defaultV2Config(),
	}
}

// WithRateLimit sets the portal's leaky bucket: it holds burst requests and drains perSecond.
// Default 50 and 2 (Enterprise plans: 250 and 5).
func WithRateLimit(burst int, perSecond float64) Option {
	return func(c *config) { c.limit, c.burst, c.perSecond = true, burst, perSecond }
}

// WithoutRateLimit turns the bucket off.
func WithoutRateLimit() Option { return func(c *config) { c.limit = false } }

// WithMaxBotsPerApp sets the bot quota of each application (default 5).
func WithMaxBotsPerApp(n int) Option { return func(c *config) { c.maxBots = n } }

// WithScopes sets the scopes every credential has (default imbot, im, user).
func WithScopes(scopes ...string) Option {
	return func(c *config) { c.scopes = append([]string(nil), scopes...) }
}

// WithAccessTokenTTL sets how long an OAuth access token lives (default 1 hour).
func WithAccessTokenTTL(d time.Duration) Option { return func(c *config) { c.tokenTTL = d } }

// WithBaseURL sets the portal's public URL (https://host:port), used in webhook URLs and token
// answers. NewServer sets it; a binary serving NewHandler on its own listener passes it.
func WithBaseURL(u string) Option {
	return func(c *config) { c.baseURL = strings.TrimSuffix(u, "/") }
}

// Portal is the simulated portal: its state, its call log and its faults. It is an
// http.Handler and safe for concurrent use.
type Portal struct {
	mu  sync.Mutex
	cfg config

	webhooks     map[string]int // "user/code" -> user id
	oauthApps    map[string]*oauthApp
	accessTokens map[string]*accessToken

	bots        map[int]*Bot
	appHandlers map[string]Handlers
	apps        map[int]*App
	chats       map[int]*Chat
	nextBotID   int
	nextAppID   int
	nextChatID  int

	commands        map[int]*Command
	commandHandlers map[string]string // application -> bound ONIMCOMMANDADD URL (v1)
	nextCommandID   int
	eventGets       int // imbot.v2.Event.get calls: the operator must never make one

	calls    []Call
	faults   map[string][]*pendingFault
	opLimits map[string]time.Time // method -> blocked until
	windows  map[string]time.Time // app|method -> start of the 10-minute operating window
	moved    map[string]string    // host -> new base URL
	level    float64
	last     time.Time
	count503 int
}

// NewHandler returns a simulated portal to serve on any TLS listener.
func NewHandler(opts ...Option) *Portal {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return &Portal{
		cfg:             cfg,
		webhooks:        map[string]int{},
		oauthApps:       map[string]*oauthApp{},
		accessTokens:    map[string]*accessToken{},
		bots:            map[int]*Bot{},
		appHandlers:     map[string]Handlers{},
		apps:            map[int]*App{},
		chats:           map[int]*Chat{},
		nextBotID:       100, // bots are users; leave room for the portal's people
		nextAppID:       1,
		nextChatID:      1,
		commands:        map[int]*Command{},
		commandHandlers: map[string]string{},
		nextCommandID:   1,
		faults:          map[string][]*pendingFault{},
		opLimits:        map[string]time.Time{},
		windows:         map[string]time.Time{},
		moved:           map[string]string{},
	}
}

// SetBaseURL sets the portal's public URL (see WithBaseURL).
func (p *Portal) SetBaseURL(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.baseURL = strings.TrimSuffix(u, "/")
}

// BaseURL returns the portal's public URL.
func (p *Portal) BaseURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.baseURL
}

// TokenURL returns the URL of the simulated OAuth server (GET with query parameters).
func (p *Portal) TokenURL() string { return p.BaseURL() + "/oauth/token/" }

// AddWebhook creates an inbound webhook of user userID and returns its URL,
// {base}/rest/{userID}/{code}/.
func (p *Portal) AddWebhook(userID int, code string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.webhooks[strconv.Itoa(userID)+"/"+code] = userID
	return p.cfg.baseURL + "/rest/" + strconv.Itoa(userID) + "/" + code + "/"
}

// SetScopes replaces the scopes every credential has.
func (p *Portal) SetScopes(scopes ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.scopes = append([]string(nil), scopes...)
}

// Server is the simulated portal on an HTTPS httptest server (its certificate covers
// 127.0.0.1).
type Server struct {
	*Portal
	// URL is https://127.0.0.1:PORT.
	URL string

	mu      sync.Mutex
	servers []*httptest.Server
}

// NewServer starts a simulated portal on HTTPS, on a port no other Server of this process used:
// a portal's host identifies it (the operator keys bot codes and limits on it), and a test that
// closed one simulated portal must not meet its host again on the next.
func NewServer(opts ...Option) *Server {
	p := NewHandler(opts...)
	ts := newTLSServer(p)
	p.SetBaseURL(ts.URL)
	return &Server{Portal: p, URL: ts.URL, servers: []*httptest.Server{ts}}
}

// usedPorts are the ports the process's simulated portals listened on.
var usedPorts sync.Map

// newTLSServer starts an httptest TLS server for h on a port not used before in this process.
func newTLSServer(h http.Handler) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	for range 100 {
		if _, taken := usedPorts.LoadOrStore(ts.Listener.Addr().(*net.TCPAddr).Port, true); !taken {
			break
		}
		// Keep the reused port's listener open until a fresh one is found, so it is not
		// handed out again at once.
		defer ts.Listener.Close()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(fmt.Sprintf("bitrixtest: listen: %v", err))
		}
		ts.Listener = l
	}
	ts.StartTLS()
	return ts
}

// Handler returns the simulated portal (an http.Handler).
func (s *Server) Handler() *Portal { return s.Portal }

// CAPEM returns the PEM of the certificate that signs the server's TLS certificate, for
// bitrix.WithCABundle.
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.servers[0].Certificate().Raw})
}

// HTTPClient returns an http.Client that trusts the server.
func (s *Server) HTTPClient() *http.Client { return s.servers[0].Client() }

// MoveDomain simulates a portal whose domain changed: it starts a second listener (the new
// domain, same certificate), and from then on every request to the old one is answered with
// 302 to the same path on the new one. It returns the new URL.
func (s *Server) MoveDomain() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := newTLSServer(s.Portal)
	old := s.servers[len(s.servers)-1]
	u, _ := url.Parse(old.URL)
	s.Portal.mu.Lock()
	s.Portal.moved[u.Host] = ts.URL
	s.Portal.cfg.baseURL = ts.URL
	s.Portal.mu.Unlock()
	s.servers = append(s.servers, ts)
	return ts.URL
}

// Close shuts the server (and any moved-domain listener) down.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ts := range s.servers {
		ts.CloseClientConnections()
		ts.Close()
	}
}

// apiError is a Bitrix error answer.
type apiError struct {
	status int
	code   string
	desc   string
}

func errf(status int, code, desc string) *apiError {
	return &apiError{status: status, code: code, desc: desc}
}

// bad is a domain error: HTTP 400.
func bad(code, desc string) *apiError { return errf(http.StatusBadRequest, code, desc) }

// reply is a response ready to be written.
type reply struct {
	status int
	header map[string]string
	body   []byte
	drop   bool // hijack and reset the connection instead of answering
}

// ServeHTTP routes /rest/... to the REST API and /oauth/token/ to the OAuth server.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	target, moved := p.moved[r.Host]
	p.mu.Unlock()
	if moved {
		// A portal whose domain changed answers 302 with the new location.
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusFound)
		return
	}
	path := r.URL.Path
	switch {
	case path == "/oauth/token/" || path == "/oauth/token":
		p.serveToken(w, r)
	case strings.HasPrefix(path, "/rest/"):
		p.serveREST(w, r)
	default:
		http.NotFound(w, r)
	}
}

// route is where a REST request goes and how it authenticates.
type route struct {
	method      string
	webhookUser string // set for /rest/{user}/{code}/{method}
	webhookCode string
}

func parseRoute(path string) (route, bool) {
	rest := strings.TrimPrefix(path, "/rest/")
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	var rt route
	switch len(parts) {
	case 1:
		rt.method = parts[0]
	case 3:
		rt.webhookUser, rt.webhookCode, rt.method = parts[0], parts[1], parts[2]
	default:
		return rt, false
	}
	rt.method = canonicalMethod(strings.TrimSuffix(rt.method, ".json"))
	return rt, rt.method != ""
}

func (p *Portal) serveREST(w http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		p.write(w, r, p.errorReply("", "", errf(http.StatusNotFound, "ERROR_METHOD_NOT_FOUND", "Method not found!")))
		return
	}
	req, err := parseRequest(r)
	if err != nil {
		p.write(w, r, p.errorReply("", rt.method, bad("INVALID_REQUEST", "Could not parse the request: "+err.Error())))
		return
	}
	f := p.takeFault(rt.method)
	if f != nil && f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if f != nil && f.answersBeforeRunning() {
		rep := p.faultReply(rt.method, f, r)
		p.mu.Lock()
		p.record(Call{Method: rt.method, Params: copyParams(req.params), Status: rep.status, ErrorCode: f.Code, Fault: true})
		p.mu.Unlock()
		p.write(w, r, rep)
		return
	}
	p.mu.Lock()
	rep := p.handle(rt, req)
	p.mu.Unlock()
	if f != nil && f.Drop {
		rep.drop = true
	}
	p.write(w, r, rep)
}

// handle runs one REST request under the lock: bucket, authentication, method.
func (p *Portal) handle(rt route, req request) reply {
	now := time.Now()
	// The bucket refuses before anything runs, authentication included.
	if !p.admit(now) {
		p.count503++
		e := errf(p.cfg.v2.limitStatus, "QUERY_LIMIT_EXCEEDED", "Too many requests")
		p.record(Call{Method: rt.method, Params: copyParams(req.params), Status: e.status, ErrorCode: e.code})
		return p.errorReply("", rt.method, e)
	}
	c, aerr := p.authenticate(rt, req.params, now)
	if aerr != nil {
		p.record(Call{Method: rt.method, Params: copyParams(req.params), Status: aerr.status, ErrorCode: aerr.code})
		return p.errorReply("", rt.method, aerr)
	}
	result, e := p.dispatch(c, rt.method, req.params, req.cmdOrder, "")
	app := c.appFor(rt.method, req.params)
	if e != nil {
		return p.errorReply(app, rt.method, e)
	}
	body := map[string]any{"result": result, "time": p.timeBlock(app, rt.method, now)}
	return jsonReply(http.StatusOK, body)
}

// dispatch runs a method for an authenticated caller and logs it. batchKey is set for a
// command inside a batch.
func (p *Portal) dispatch(c *caller, method string, ps params, cmdOrder []string, batchKey string) (any, *apiError) {
	call := Call{Method: method, Params: copyParams(ps), BatchKey: batchKey}
	result, e := p.run(c, method, ps, cmdOrder, batchKey)
	call.App = c.appFor(method, ps)
	call.Status = http.StatusOK
	if e != nil {
		call.Status, call.ErrorCode = e.status, e.code
	}
	p.record(call)
	return result, e
}

func (p *Portal) run(c *caller, method string, ps params, cmdOrder []string, batchKey string) (any, *apiError) {
	m, ok := methods[strings.ToLower(method)]
	if !ok || (isV2Method(method) && p.cfg.v2.disabled) {
		return nil, errf(http.StatusNotFound, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	if m.scope != "" && !p.hasScope(m.scope) {
		return nil, errf(http.StatusForbidden, "insufficient_scope", "The request requires higher privileges than provided by the access token")
	}
	if batchKey != "" {
		// A fault injected as a Bitrix error applies to commands inside a batch as well.
		if f := p.takeBatchFault(method); f != nil {
			return nil, errf(f.status(http.StatusBadRequest), f.Code, f.Description)
		}
	}
	if batchKey != "" && isV2Method(method) && p.cfg.v2.noBatch {
		return nil, bad("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
	}
	app := ""
	switch {
	case isV2Method(method):
		a, e := c.v2App(method, ps)
		if e != nil {
			return nil, e
		}
		app = a
	case strings.HasPrefix(method, "imbot."):
		a, e := c.imbotApp(ps)
		if e != nil {
			return nil, e
		}
		app = a
	}
	if until, ok := p.opLimits[method]; ok {
		if time.Now().Before(until) {
			return nil, errf(http.StatusTooManyRequests, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
		}
		delete(p.opLimits, method)
	}
	if method == "batch" {
		if batchKey != "" {
			return nil, bad("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
		}
		return p.batch(c, ps, cmdOrder)
	}
	return m.fn(p, &call{caller: c, app: app, params: ps})
}

func (p *Portal) hasScope(s string) bool {
	for _, have := range p.cfg.scopes {
		if have == s {
			return true
		}
	}
	return false
}

// admit is the leaky bucket: burst requests, draining perSecond.
func (p *Portal) admit(now time.Time) bool {
	if !p.cfg.limit {
		return true
	}
	if !p.last.IsZero() {
		p.level -= now.Sub(p.last).Seconds() * p.cfg.perSecond
		if p.level < 0 {
			p.level = 0
		}
	}
	p.last = now
	if p.level+1 > float64(p.cfg.burst)+1e-9 {
		return false
	}
	p.level++
	return true
}

// operatingWindow is the period over which Bitrix sums a method's execution time.
const operatingWindow = 10 * time.Minute

// timeBlock is the `time` block of every answer. operating_reset_at is when the caller's
// operating-time window for this method resets (or the end of a forced limit).
func (p *Portal) timeBlock(app, method string, start time.Time) map[string]any {
	finish := time.Now()
	var reset time.Time
	if until, ok := p.opLimits[method]; ok && until.After(start) {
		reset = until
	} else {
		key := app + "|" + method
		w, ok := p.windows[key]
		if !ok || !start.Before(w.Add(operatingWindow)) {
			w = start
			p.windows[key] = w
		}
		reset = w.Add(operatingWindow)
	}
	dur := finish.Sub(start).Seconds()
	return map[string]any{
		"start":              unixFloat(start),
		"finish":             unixFloat(finish),
		"duration":           dur,
		"processing":         dur,
		"date_start":         start.Format(time.RFC3339),
		"date_finish":        finish.Format(time.RFC3339),
		"operating_reset_at": reset.Unix(),
		"operating":          0,
	}
}

func unixFloat(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (p *Portal) errorReply(app, method string, e *apiError) reply {
	body := map[string]any{"error": e.code, "error_description": e.desc}
	if method != "" {
		body["time"] = p.timeBlock(app, method, time.Now())
	}
	return jsonReply(e.status, body)
}

func jsonReply(status int, body any) reply {
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{"error":"INTERNAL_SERVER_ERROR","error_description":"encoding"}`)
		status = http.StatusInternalServerError
	}
	return reply{status: status, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, body: b}
}

func (p *Portal) write(w http.ResponseWriter, r *http.Request, rep reply) {
	if rep.drop {
		dropConnection(w)
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// dropConnection resets the connection without an answer: the call took effect but the client
// cannot know.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2: abort the stream.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // RST rather than FIN
	}
	_ = raw.Close()
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Tokens is the client's token type, re-exported for convenience.
type Tokens = bitrix.Tokens
