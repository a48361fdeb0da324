package metabot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

const (
	botID = 42
	token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
)

// newSim starts a simulator with bot 42 (token) and bot 7 (another token).
func newSim(t *testing.T, opts ...metabottest.Option) *metabottest.Server {
	t.Helper()
	s := metabottest.NewServer(opts...)
	t.Cleanup(s.Close)
	s.AddBot(botID, token)
	s.AddBot(7, "other-bots-token")
	return s
}

func newClient(t *testing.T, s *metabottest.Server, opts ...metabot.Option) *metabot.Client {
	t.Helper()
	c, err := metabot.New(s.URL, botID, token, append([]metabot.Option{metabot.WithCABundle(s.CAPEM())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestScheduleEncodesBody(t *testing.T) {
	s := newSim(t)
	c := newClient(t, s)

	cases := []struct {
		name string
		job  metabot.Job
		want string
	}{
		{
			name: "a bare script code sends only script_code",
			job:  metabot.Job{Target: metabot.ScriptCode("weekly_digest")},
			want: `{"script_code":"weekly_digest"}`,
		},
		{
			name: "trigger id is sent as an integer",
			job:  metabot.Job{Target: metabot.TriggerID(1)},
			want: `{"trigger_id":1}`,
		},
		{
			name: "broadcast code maps to broadcast_code",
			job:  metabot.Job{Target: metabot.BroadcastCode("promo")},
			want: `{"broadcast_code":"promo"}`,
		},
		{
			name: "every field set is sent, tags comma-joined, params passed through",
			job: metabot.Job{
				Target:      metabot.ScriptID(3),
				LeadID:      135,
				TicketID:    7,
				RunAfterSec: metabot.RunAfter(5 * time.Minute),
				Periodic:    true,
				Condition:   "if (leadId == 135) return true;",
				Params:      json.RawMessage(`{"first_param": 7, "second_param": {"any_key": "any_value"}}`),
				AddTags:     []string{"tag1", "tag2"},
				RemoveTags:  []string{"tag3"},
			},
			want: `{"script_id":3,"lead_id":135,"ticket_id":7,"run_after_sec":300,"is_periodic":true,` +
				`"condition_script_code":"if (leadId == 135) return true;",` +
				`"script_request_params":{"first_param":7,"second_param":{"any_key":"any_value"}},` +
				`"add_tags":"tag1,tag2","remove_tags":"tag3"}`,
		},
		{
			name: "a target time in the past is sent as run_after_sec 0, not left out",
			job:  metabot.Job{Target: metabot.ScriptCode("x"), RunAfterSec: metabot.RunAfter(-time.Hour)},
			want: `{"script_code":"x","run_after_sec":0}`,
		},
		{
			name: "a delay is rounded up to whole seconds so the job never runs early",
			job:  metabot.Job{Target: metabot.ScriptCode("x"), RunAfterSec: metabot.RunAfter(1500 * time.Millisecond)},
			want: `{"script_code":"x","run_after_sec":2}`,
		},
		{
			name: "params keep numbers beyond float64 precision",
			job:  metabot.Job{Target: metabot.ScriptCode("x"), Params: json.RawMessage(`{"n":12345678901234567891}`)},
			want: `{"script_code":"x","script_request_params":{"n":12345678901234567891}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset()
			res, err := c.Schedule(context.Background(), tc.job)
			if err != nil {
				t.Fatalf("Schedule: %v", err)
			}
			if res.StatusCode != http.StatusOK || res.AcceptedAt.IsZero() {
				t.Errorf("result = %d at %v, want 200 with a time", res.StatusCode, res.AcceptedAt)
			}
			jobs := s.Jobs()
			if len(jobs) != 1 {
				t.Fatalf("simulator recorded %d jobs, want 1", len(jobs))
			}
			if got := string(jobs[0].Raw); got != tc.want {
				t.Errorf("body\n got %s\nwant %s", got, tc.want)
			}
			if jobs[0].BotID != botID {
				t.Errorf("bot id = %d, want %d", jobs[0].BotID, botID)
			}
		})
	}
}

func TestScheduleDueTimeFollowsRunAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := newSim(t, metabottest.WithClock(func() time.Time { return now }))
	c := newClient(t, s)
	if _, err := c.Schedule(context.Background(), metabot.Job{Target: metabot.ScriptCode("x"), RunAfterSec: metabot.RunAfter(90 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Jobs()[0].DueAt, now.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("due at %v, want %v", got, want)
	}
}

// closedURL returns an https URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

func TestScheduleClassifiesFailures(t *testing.T) {
	valid := metabot.Job{Target: metabot.ScriptCode("weekly_digest"), LeadID: 135}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	cases := []struct {
		name string
		// setup prepares the simulator and returns the client to use.
		setup          func(t *testing.T, s *metabottest.Server) *metabot.Client
		ctx            context.Context
		job            metabot.Job
		wantKind       metabot.Kind
		wantStatus     int
		wantRetryAfter time.Duration
		wantJobs       int
		wantCause      error
	}{
		{
			name: "refused connection is definite and retryable",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				c, err := metabot.New(closedURL(t), botID, token)
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			wantKind: metabot.Definite,
		},
		{
			name: "untrusted server certificate is definite: nothing was sent",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				c, err := metabot.New(s.URL, botID, token)
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			wantKind: metabot.Definite,
		},
		{
			name:      "context cancelled before sending is definite",
			ctx:       cancelled,
			wantKind:  metabot.Definite,
			wantCause: context.Canceled,
		},
		{
			name:      "invalid job is permanent and never sent",
			job:       metabot.Job{Target: metabot.Target{Kind: metabot.TargetScript, ID: 1, Code: "both"}},
			wantKind:  metabot.Permanent,
			wantCause: metabot.ErrInvalidJob,
		},
		{
			name: "wrong token is an auth failure",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				c, err := metabot.New(s.URL, botID, "wrong-token", metabot.WithCABundle(s.CAPEM()))
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			wantKind:   metabot.Auth,
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "another bot's token is an auth failure (403)",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				c, err := metabot.New(s.URL, botID, "other-bots-token", metabot.WithCABundle(s.CAPEM()))
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			wantKind:   metabot.Auth,
			wantStatus: http.StatusForbidden,
		},
		{
			name: "unknown bot (404) is permanent",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				s.AddBot(99, "bot-99-token")
				c, err := metabot.New(s.URL, 1234, "bot-99-token", metabot.WithCABundle(s.CAPEM()))
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			wantKind:   metabot.Permanent,
			wantStatus: http.StatusNotFound,
		},
		{
			name: "wrong API path (404) is permanent",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				return newClient(t, s, metabot.WithAPIPath("/api/v2"))
			},
			wantKind:   metabot.Permanent,
			wantStatus: http.StatusNotFound,
		},
		{
			name:       "422 validation error is permanent",
			setup:      fault(metabottest.Fault{Status: http.StatusUnprocessableEntity}),
			wantKind:   metabot.Permanent,
			wantStatus: http.StatusUnprocessableEntity,
		},
		{
			name:           "429 is definite and carries Retry-After",
			setup:          fault(metabottest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}),
			wantKind:       metabot.Definite,
			wantStatus:     http.StatusTooManyRequests,
			wantRetryAfter: 7 * time.Second,
		},
		{
			name:       "408 is definite",
			setup:      fault(metabottest.Fault{Status: http.StatusRequestTimeout}),
			wantKind:   metabot.Definite,
			wantStatus: http.StatusRequestTimeout,
		},
		{
			name:       "500 is ambiguous even when nothing was recorded",
			setup:      fault(metabottest.Fault{Status: http.StatusInternalServerError}),
			wantKind:   metabot.Ambiguous,
			wantStatus: http.StatusInternalServerError,
		},
		{
			name:           "503 with Retry-After is ambiguous and keeps the delay",
			setup:          fault(metabottest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 30 * time.Second}),
			wantKind:       metabot.Ambiguous,
			wantStatus:     http.StatusServiceUnavailable,
			wantRetryAfter: 30 * time.Second,
		},
		{
			name:       "processed then 500 is ambiguous (the job exists)",
			setup:      fault(metabottest.Fault{Process: true, Status: http.StatusInternalServerError}),
			wantKind:   metabot.Ambiguous,
			wantStatus: http.StatusInternalServerError,
			wantJobs:   1,
		},
		{
			name:     "processed then connection dropped is ambiguous",
			setup:    fault(metabottest.Fault{Process: true, Drop: true}),
			wantKind: metabot.Ambiguous,
			wantJobs: 1,
		},
		{
			name:     "connection dropped after sending is ambiguous even if unprocessed",
			setup:    fault(metabottest.Fault{Drop: true}),
			wantKind: metabot.Ambiguous,
		},
		{
			name: "client timeout after sending is ambiguous",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				s.InjectFault(1, metabottest.Fault{Process: true, Latency: 5 * time.Second})
				return newClient(t, s, metabot.WithTimeout(200*time.Millisecond))
			},
			wantKind:  metabot.Ambiguous,
			wantJobs:  1,
			wantCause: context.DeadlineExceeded,
		},
		{
			name: "rate limiter that cannot grant a token before the deadline is definite",
			setup: func(t *testing.T, s *metabottest.Server) *metabot.Client {
				return newClient(t, s, metabot.WithRateLimit(0.001, 0))
			},
			wantKind: metabot.Definite,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			c := newClient(t, s)
			if tc.setup != nil {
				c = tc.setup(t, s)
			}
			ctx := tc.ctx
			if ctx == nil {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
			}
			job := tc.job
			if job.Target.Kind == "" {
				job = valid
			}

			_, err := c.Schedule(ctx, job)
			t.Logf("error: %v", err)

			var me *metabot.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %v (%T) is not a *metabot.Error", err, err)
			}
			if me.Kind != tc.wantKind {
				t.Errorf("kind = %v, want %v (error: %v)", me.Kind, tc.wantKind, err)
			}
			if me.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", me.StatusCode, tc.wantStatus)
			}
			if me.RetryAfter != tc.wantRetryAfter || metabot.RetryAfter(err) != tc.wantRetryAfter {
				t.Errorf("retry after = %v, want %v", me.RetryAfter, tc.wantRetryAfter)
			}
			if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
				t.Errorf("error %v does not wrap %v", err, tc.wantCause)
			}
			if got := s.JobCount(); got != tc.wantJobs {
				t.Errorf("simulator recorded %d jobs, want %d", got, tc.wantJobs)
			}
			if me.Kind.NothingScheduled() != (tc.wantKind != metabot.Ambiguous) {
				t.Errorf("NothingScheduled() = %v for %v", me.Kind.NothingScheduled(), me.Kind)
			}
			helpers := map[string]bool{
				"IsAmbiguous": metabot.IsAmbiguous(err),
				"IsRetryable": metabot.IsRetryable(err),
				"IsAuth":      metabot.IsAuth(err),
				"IsPermanent": metabot.IsPermanent(err),
			}
			want := map[metabot.Kind]string{metabot.Ambiguous: "IsAmbiguous", metabot.Definite: "IsRetryable", metabot.Auth: "IsAuth", metabot.Permanent: "IsPermanent"}[tc.wantKind]
			for name, got := range helpers {
				if got != (name == want) {
					t.Errorf("%s = %v", name, got)
				}
			}
			if metabot.IsRateLimited(err) != (tc.wantStatus == http.StatusTooManyRequests) {
				t.Errorf("IsRateLimited = %v for status %d", metabot.IsRateLimited(err), tc.wantStatus)
			}
			if msg := err.Error(); strings.Contains(msg, token) || strings.Contains(msg, "other-bots-token") || strings.Contains(msg, "\n") {
				t.Errorf("error message leaks the token or spans lines: %q", msg)
			}
		})
	}
}

// fault returns a setup that injects f into the next request and uses the default client.
func fault(f metabottest.Fault) func(*testing.T, *metabottest.Server) *metabot.Client {
	return func(t *testing.T, s *metabottest.Server) *metabot.Client {
		s.InjectFault(1, f)
		return newClient(t, s)
	}
}

func TestScheduleDoesNotRetry(t *testing.T) {
	s := newSim(t)
	c := newClient(t, s)
	s.InjectFault(1, metabottest.Fault{Process: true, Drop: true})
	if _, err := c.Schedule(context.Background(), metabot.Job{Target: metabot.ScriptCode("x")}); !metabot.IsAmbiguous(err) {
		t.Fatalf("err = %v, want ambiguous", err)
	}
	if got := s.Requests(); got != 1 {
		t.Errorf("simulator saw %d requests, want exactly 1 (no automatic resend)", got)
	}
}

func TestScheduleErrorCarriesServerReasonWithoutToken(t *testing.T) {
	// A server that echoes the token in its error must not get it into our error string.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"message":"Script not found for ` + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + `"}`))
	}))
	defer ts.Close()
	c, err := metabot.New(ts.URL, botID, token)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Schedule(context.Background(), metabot.Job{Target: metabot.ScriptCode("x")})
	if !metabot.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	want := "metabot: schedule job: HTTP 422 Unprocessable Entity: Script not found for [redacted] (permanent)"
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err.Error(), want)
	}
}

func TestScheduleDoesNotFollowRedirects(t *testing.T) {
	var hits int
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusTemporaryRedirect)
	}))
	defer ts.Close()
	c, err := metabot.New(ts.URL, botID, token)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Schedule(context.Background(), metabot.Job{Target: metabot.ScriptCode("x")})
	if !metabot.IsPermanent(err) || hits != 1 {
		t.Errorf("err = %v after %d requests, want one permanent failure", err, hits)
	}
}

func TestRateLimiterSpacesRequests(t *testing.T) {
	s := newSim(t)
	c := newClient(t, s, metabot.WithRateLimit(20, 1), metabot.WithLabel("team-a/limited"))
	start := time.Now()
	for range 3 {
		if _, err := c.Schedule(context.Background(), metabot.Job{Target: metabot.ScriptCode("x")}); err != nil {
			t.Fatal(err)
		}
	}
	// Burst 1 at 20/s: the 2nd and 3rd call each wait about 50 ms.
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("3 calls took %v, want at least ~100ms at 20 rps, burst 1", elapsed)
	}
	if got := s.JobCount(); got != 3 {
		t.Errorf("jobs = %d, want 3", got)
	}
}

func TestSimulatorRateLimitIsDefiniteWithRetryAfter(t *testing.T) {
	s := newSim(t, metabottest.WithRateLimit(0.5, 1))
	c := newClient(t, s)
	job := metabot.Job{Target: metabot.ScriptCode("x")}
	if _, err := c.Schedule(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	_, err := c.Schedule(context.Background(), job)
	if !metabot.IsRetryable(err) || metabot.RetryAfter(err) < time.Second {
		t.Errorf("second call: err = %v, retry after %v; want retryable with Retry-After >= 1s", err, metabot.RetryAfter(err))
	}
	if got := s.JobCount(); got != 1 {
		t.Errorf("jobs = %d, want 1 (the limited call is not recorded)", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metabot.RegisterMetrics(reg)
	metabot.RegisterMetrics(reg) // registering twice is harmless

	// The collectors are package-level and outlive one run (go test -count), so each run
	// uses a label of its own.
	label := fmt.Sprintf("team-a/metrics-%d", time.Now().UnixNano())
	s := newSim(t)
	c := newClient(t, s, metabot.WithLabel(label), metabot.WithRateLimit(100, 10))
	job := metabot.Job{Target: metabot.ScriptCode("x")}
	if _, err := c.Schedule(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	s.InjectFault(1, metabottest.Fault{Status: http.StatusBadGateway})
	_, _ = c.Schedule(context.Background(), job)

	// Other tests share the package-level collectors, so look only at this client's series.
	for outcome, want := range map[string]float64{"accepted": 1, "ambiguous": 1, "definite": 0} {
		if got := sample(t, reg, "b24ops_metabot_requests_total", label, outcome); got != want {
			t.Errorf("requests_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	s.InjectFault(1, metabottest.Fault{Status: http.StatusBadRequest})
	_, _ = c.Schedule(context.Background(), job)
	// What each call means for the job: the 502 may have been processed (the ScheduledJob
	// stalls with OutcomeUnknown), the 400 certainly was not.
	for outcome, want := range map[string]float64{metabot.OutcomeScheduled: 1, metabot.OutcomeUnknown: 1, metabot.OutcomeNotScheduled: 1} {
		if got := sample(t, reg, "b24ops_metabot_schedule_outcomes_total", label, outcome); got != want {
			t.Errorf("schedule_outcomes_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if got := sample(t, reg, "b24ops_metabot_rate_limiter_wait_seconds", label, ""); got != 3 {
		t.Errorf("limiter wait observations = %v, want 3", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), token) {
					t.Errorf("metric %s has the token in label %s", mf.GetName(), l.GetName())
				}
			}
		}
	}
}

// sample returns the value of a counter (or the sample count of a histogram) in reg with
// the given metabot label and, when not empty, outcome label.
func sample(t *testing.T, reg *prometheus.Registry, name, metabotLabel, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch {
				case l.GetName() == "metabot" && l.GetValue() != metabotLabel,
					l.GetName() == "outcome" && l.GetValue() != outcome:
					continue metrics
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
