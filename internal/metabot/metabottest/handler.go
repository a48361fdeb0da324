// Package metabottest is an in-process simulator of the Metabot Bot API job scheduling call,
// for tests of the metabot client and of the controllers, and for cmd/b24sim.
//
// It is stricter than Metabot is known to be (unknown fields, nulls and wrongly typed values
// are rejected with 422) so that client bugs surface, and it can inject the failures the
// client must classify: errors answered before or after the job is recorded, dropped
// connections and latency.
package metabottest

import (
	"encoding/json"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBody caps request bodies; Metabot's own limit is unknown.
const maxBody = 1 << 20

// Job is a job the simulator accepted.
type Job struct {
	// ID numbers accepted jobs from 1 in this simulator. Metabot returns no id; this one is
	// only for tests and inspection.
	ID    int64 `json:"id"`
	BotID int64 `json:"bot_id"`
	// Request holds the decoded body fields; nil means the field was absent.
	Request
	// Raw is the body exactly as received.
	Raw        json.RawMessage `json:"-"`
	ReceivedAt time.Time       `json:"received_at"`
	// DueAt is run_at when given (it wins), else ReceivedAt + run_after_sec.
	DueAt time.Time `json:"due_at"`
}

// Fault is a failure injected into upcoming schedule requests (see InjectFault).
type Fault struct {
	// Status is answered instead of 200, with a JSON error body. 0 keeps the normal answer.
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header (in whole seconds).
	RetryAfter time.Duration
	// Process handles the request normally first (auth, validation, recording the job) and
	// applies the fault afterwards, so the job exists although the client sees a failure:
	// the ambiguous case. Without it the fault strikes before the body is read and nothing is
	// recorded.
	Process bool
	// Drop closes the connection without an answer.
	Drop bool
	// Latency delays the answer (or the drop). Without Status or Drop, a request delayed
	// before processing is then handled normally, unless the client gave up meanwhile.
	Latency time.Duration
}

// Refuse answers status (with Retry-After when retryAfter > 0) before reading the request:
// nothing is recorded. 429 and 503 are the usual cases.
func Refuse(status int, retryAfter time.Duration) Fault {
	return Fault{Status: status, RetryAfter: retryAfter}
}

// ProcessThenFail records the job, then answers status: the client cannot know the job exists.
func ProcessThenFail(status int) Fault { return Fault{Process: true, Status: status} }

// ProcessThenDrop records the job, then resets the connection without an answer.
func ProcessThenDrop() Fault { return Fault{Process: true, Drop: true} }

// ProcessThenDelay records the job, then waits d before answering, so a client with a
// shorter timeout gives up after sending.
func ProcessThenDelay(d time.Duration) Fault { return Fault{Process: true, Latency: d} }

// Option configures a Platform.
type Option func(*Platform)

// WithClock sets the clock used for receive and due times and for rate limiting.
func WithClock(now func() time.Time) Option { return func(h *Platform) { h.now = now } }

// WithLocation sets the time zone run_at is read in (default UTC). Metabot's is undocumented.
func WithLocation(loc *time.Location) Option { return func(h *Platform) { h.loc = loc } }

// WithAPIPath sets the API root (default "/api/v1"); the call is {root}/bots/{id}/jobs/schedule.
func WithAPIPath(p string) Option {
	return func(h *Platform) {
		p = strings.Trim(p, "/")
		if p != "" {
			p = "/" + p
		}
		h.apiPath = p
	}
}

// WithRateLimit limits each bot to rps requests per second with the given burst; requests
// over the limit get 429 with Retry-After and are not recorded.
func WithRateLimit(rps float64, burst int) Option {
	return func(h *Platform) { h.rps, h.burst = rps, burst }
}

type bot struct {
	token   string
	limiter *rate.Limiter
}

type pendingFault struct {
	left  int
	fault Fault
}

// Platform is the simulated Metabot platform: its bots, the jobs it accepted and the faults
// waiting for the next requests. It is an http.Handler serving the API under its API path
// (mount it on a mux at that path without stripping the prefix) and safe for concurrent use.
type Platform struct {
	now     func() time.Time
	loc     *time.Location
	apiPath string
	rps     float64
	burst   int

	mu       sync.Mutex
	bots     map[int64]*bot
	jobs     []Job
	requests int
	faults   []pendingFault
}

// NewHandler returns a simulated platform with no bots, to serve on any listener.
func NewHandler(opts ...Option) *Platform {
	h := &Platform{now: time.Now, loc: time.UTC, apiPath: "/api/v1", bots: map[int64]*bot{}}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// APIPath returns the API root the handler serves, e.g. "/api/v1".
func (h *Platform) APIPath() string { return h.apiPath }

// AddBot adds (or replaces) a bot whose API user has token.
func (h *Platform) AddBot(botID int64, token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := &bot{token: token}
	if h.rps > 0 {
		b.limiter = rate.NewLimiter(rate.Limit(h.rps), max(h.burst, 1))
	}
	h.bots[botID] = b
}

// Bots returns the ids of the known bots in ascending order.
func (h *Platform) Bots() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]int64, 0, len(h.bots))
	for id := range h.bots {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// InjectFault applies f to each of the next n schedule requests, after any faults injected
// before it are used up.
func (h *Platform) InjectFault(n int, f Fault) {
	if n <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, pendingFault{left: n, fault: f})
}

// Jobs returns a copy of the accepted jobs, oldest first.
func (h *Platform) Jobs() []Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.jobs)
}

// JobCount returns how many jobs were accepted.
func (h *Platform) JobCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.jobs)
}

// Requests returns how many HTTP requests reached the handler, answered or not.
func (h *Platform) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// Reset forgets jobs, pending faults and the request count; bots stay.
func (h *Platform) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.jobs, h.faults, h.requests = nil, nil, 0
}

// nextFault counts the request and takes the fault that applies to it, if any.
func (h *Platform) nextFault() (Fault, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if len(h.faults) == 0 {
		return Fault{}, false
	}
	f := h.faults[0].fault
	if h.faults[0].left--; h.faults[0].left == 0 {
		h.faults = h.faults[1:]
	}
	return f, true
}

// botIDFromPath parses {apiPath}/bots/{id}/jobs/schedule.
func (h *Platform) botIDFromPath(p string) (int64, bool) {
	rest, ok := strings.CutPrefix(p, h.apiPath+"/bots/")
	if !ok {
		return 0, false
	}
	idStr, ok := strings.CutSuffix(rest, "/jobs/schedule")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// ServeHTTP implements http.Handler.
func (h *Platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	botID, ok := h.botIDFromPath(r.URL.Path)
	if !ok {
		h.countOnly()
		writeError(w, http.StatusNotFound, "Not found.", nil)
		return
	}
	f, faulty := h.nextFault()
	if faulty && !f.Process {
		if !sleep(r, f.Latency) {
			return
		}
		if f.Drop {
			drop(w)
			return
		}
		if f.Status != 0 {
			writeFault(w, f)
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed.", nil)
		return
	}
	status, msg, errs, retryAfter := h.schedule(r, botID)
	if faulty && f.Process {
		if !sleep(r, f.Latency) {
			return
		}
		if f.Drop {
			drop(w)
			return
		}
		if f.Status != 0 {
			writeFault(w, f)
			return
		}
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if status != http.StatusOK {
		writeError(w, status, msg, errs)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

func (h *Platform) countOnly() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
}

// schedule authenticates, rate-limits, validates and records one request. It returns the
// status to answer and, for errors, the message, field errors and Retry-After seconds.
func (h *Platform) schedule(r *http.Request, botID int64) (int, string, fieldErrors, int) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	now := h.now()

	h.mu.Lock()
	known, owner := false, int64(0)
	for id, b := range h.bots {
		if token != "" && b.token == token {
			known, owner = true, id
			break
		}
	}
	b := h.bots[botID]
	h.mu.Unlock()

	switch {
	case !known:
		return http.StatusUnauthorized, "Unauthenticated.", nil, 0
	case b == nil:
		return http.StatusNotFound, "Bot not found.", nil, 0
	case owner != botID:
		return http.StatusForbidden, "This API user has no access to the bot.", nil, 0
	}
	if b.limiter != nil {
		res := b.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			return http.StatusTooManyRequests, "Too many requests.", nil, int(math.Ceil(d.Seconds()))
		}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return http.StatusUnsupportedMediaType, "Content-Type must be application/json.", nil, 0
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return http.StatusRequestEntityTooLarge, "Body too large or unreadable.", nil, 0
	}
	req, errs, err := decodeRequest(body, h.loc)
	if err != nil {
		return http.StatusBadRequest, err.Error(), nil, 0
	}
	if errs != nil {
		return http.StatusUnprocessableEntity, "The given data was invalid.", errs, 0
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.jobs = append(h.jobs, Job{
		ID:         int64(len(h.jobs) + 1),
		BotID:      botID,
		Request:    req,
		Raw:        json.RawMessage(body),
		ReceivedAt: now,
		DueAt:      req.dueAt(now, h.loc),
	})
	return http.StatusOK, "", nil, 0
}

// sleep waits d unless the client goes away first; it reports whether to carry on.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drop closes the connection without an answer. A hijacked TCP connection is reset (linger
// 0), which clients see as "connection reset by peer"; where hijacking is impossible
// (HTTP/2), aborting the handler resets the stream.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
	}
	writeError(w, f.Status, "Injected fault: "+http.StatusText(f.Status), nil)
}

func writeError(w http.ResponseWriter, status int, msg string, errs fieldErrors) {
	body := map[string]any{"success": false, "message": msg}
	if errs != nil {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
