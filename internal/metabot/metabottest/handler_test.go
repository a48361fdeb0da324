package metabottest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

const path = "/api/v1/bots/5/jobs/schedule"

// do sends one request straight to the handler (no network) and returns the recorder.
func do(h http.Handler, method, target, token, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerAnswers(t *testing.T) {
	const ct = "application/json"
	cases := []struct {
		name        string
		method      string
		path        string
		token       string
		contentType string
		body        string
		wantStatus  int
		wantField   string // a key expected in the "errors" map of a 422
	}{
		{"a valid job is accepted", "POST", path, "tok5", ct, `{"script_code":"x","run_after_sec":60}`, 200, ""},
		{"charset in the content type is fine", "POST", path, "tok5", "application/json; charset=utf-8", `{"trigger_id":3}`, 200, ""},
		{"a missing bearer token is 401", "POST", path, "", ct, `{"script_code":"x"}`, 401, ""},
		{"a wrong token is 401", "POST", path, "nope", ct, `{"script_code":"x"}`, 401, ""},
		{"another bot's token is 403", "POST", path, "tok6", ct, `{"script_code":"x"}`, 403, ""},
		{"an unknown bot is 404", "POST", "/api/v1/bots/99/jobs/schedule", "tok5", ct, `{"script_code":"x"}`, 404, ""},
		{"another path is 404", "POST", "/api/v2/bots/5/jobs/schedule", "tok5", ct, `{"script_code":"x"}`, 404, ""},
		{"GET is 405", "GET", path, "tok5", ct, ``, 405, ""},
		{"a form body is 415", "POST", path, "tok5", "application/x-www-form-urlencoded", `script_code=x`, 415, ""},
		{"a body that is not JSON is 400", "POST", path, "tok5", ct, `{"script_code":`, 400, ""},
		{"a JSON array body is 400", "POST", path, "tok5", ct, `[1]`, 400, ""},
		{"null instead of an absent field is 422", "POST", path, "tok5", ct, `{"script_code":"x","lead_id":null}`, 422, "lead_id"},
		{"an id sent as a string is 422", "POST", path, "tok5", ct, `{"script_id":"1"}`, 422, "script_id"},
		{"a fractional id is 422", "POST", path, "tok5", ct, `{"script_id":1.5}`, 422, "script_id"},
		{"a boolean sent as a string is 422", "POST", path, "tok5", ct, `{"script_id":1,"is_periodic":"true"}`, 422, "is_periodic"},
		{"two targets are 422", "POST", path, "tok5", ct, `{"script_id":1,"trigger_code":"t"}`, 422, "target"},
		{"id and code of one kind are 422", "POST", path, "tok5", ct, `{"script_id":1,"script_code":"t"}`, 422, "target"},
		{"no target is 422", "POST", path, "tok5", ct, `{"lead_id":1}`, 422, "target"},
		{"an empty code is 422", "POST", path, "tok5", ct, `{"script_code":""}`, 422, "script_code"},
		{"an unknown field is 422", "POST", path, "tok5", ct, `{"script_code":"x","scriptCode":"y"}`, 422, "scriptCode"},
		{"params that are not an object are 422", "POST", path, "tok5", ct, `{"script_code":"x","script_request_params":[1]}`, 422, "script_request_params"},
		{"a negative delay is 422", "POST", path, "tok5", ct, `{"script_code":"x","run_after_sec":-1}`, 422, "run_after_sec"},
		{"run_at in another format is 422", "POST", path, "tok5", ct, `{"script_code":"x","run_at":"2026-01-02T03:04:05Z"}`, 422, "run_at"},
		{"tags as an array are 422", "POST", path, "tok5", ct, `{"script_code":"x","add_tags":["a"]}`, 422, "add_tags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := metabottest.NewHandler()
			h.AddBot(5, "tok5")
			h.AddBot(6, "tok6")

			w := do(h, tc.method, tc.path, tc.token, tc.contentType, tc.body)

			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			var resp struct {
				Success bool                `json:"success"`
				Message string              `json:"message"`
				Errors  map[string][]string `json:"errors"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatalf("answer is not JSON: %v: %s", err, w.Body)
			}
			if resp.Success != (tc.wantStatus == 200) || (!resp.Success && resp.Message == "") {
				t.Errorf("answer %s does not match status %d", w.Body, w.Code)
			}
			if tc.wantField != "" && len(resp.Errors[tc.wantField]) == 0 {
				t.Errorf("errors %v lack field %q", resp.Errors, tc.wantField)
			}
			if wantJobs := map[bool]int{true: 1, false: 0}[tc.wantStatus == 200]; h.JobCount() != wantJobs {
				t.Errorf("jobs = %d, want %d", h.JobCount(), wantJobs)
			}
			if h.Requests() != 1 {
				t.Errorf("requests = %d, want 1", h.Requests())
			}
		})
	}
}

func TestHandlerRecordsJobsWithDueTimes(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	msk := time.FixedZone("MSK", 3*3600)
	h := metabottest.NewHandler(metabottest.WithClock(func() time.Time { return now }), metabottest.WithLocation(msk))
	h.AddBot(5, "tok5")

	cases := []struct {
		name string
		body string
		want time.Time
	}{
		{"no timing is due at once", `{"script_code":"a"}`, now},
		{"run_after_sec is added to the receive time", `{"script_code":"a","run_after_sec":300}`, now.Add(5 * time.Minute)},
		{"run_at wins over run_after_sec and is read in the server's zone", `{"script_code":"a","run_after_sec":300,"run_at":"2026-05-01 18:00:00"}`, time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.Reset()
			if w := do(h, "POST", path, "tok5", "application/json", tc.body); w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			j := h.Jobs()[0]
			if !j.DueAt.Equal(tc.want) || !j.ReceivedAt.Equal(now) || j.BotID != 5 || j.ID != 1 {
				t.Errorf("job = %+v, want due %v received %v", j, tc.want, now)
			}
			if string(j.Raw) != tc.body {
				t.Errorf("raw = %s, want %s", j.Raw, tc.body)
			}
		})
	}
}

func TestHandlerDecodesFields(t *testing.T) {
	h := metabottest.NewHandler()
	h.AddBot(5, "tok5")
	body := `{"broadcast_id":9,"lead_id":135,"ticket_id":7,"is_periodic":false,"condition_script_code":"return true;",` +
		`"script_request_params":{"a":{"b":1}},"add_tags":"t1,t2","remove_tags":"t3"}`
	if w := do(h, "POST", path, "tok5", "application/json", body); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	j := h.Jobs()[0]
	switch {
	case j.BroadcastID == nil || *j.BroadcastID != 9,
		j.LeadID == nil || *j.LeadID != 135,
		j.TicketID == nil || *j.TicketID != 7,
		j.IsPeriodic == nil || *j.IsPeriodic,
		j.ConditionScriptCode == nil || *j.ConditionScriptCode != "return true;",
		string(j.ScriptRequestParams) != `{"a":{"b":1}}`,
		j.AddTags == nil || *j.AddTags != "t1,t2",
		j.RemoveTags == nil || *j.RemoveTags != "t3":
		t.Errorf("decoded job = %+v", j.Request)
	}
	if j.ScriptID != nil || j.ScriptCode != nil || j.RunAt != nil || j.RunAfterSec != nil {
		t.Errorf("absent fields decoded as present: %+v", j.Request)
	}
}

func TestFaultsApplyInOrderAndRunOut(t *testing.T) {
	h := metabottest.NewHandler()
	h.AddBot(5, "tok5")
	h.InjectFault(2, metabottest.Fault{Status: 503, RetryAfter: 1500 * time.Millisecond})
	h.InjectFault(1, metabottest.Fault{Status: 500, Process: true})

	want := []struct {
		status     int
		retryAfter string
		jobs       int
	}{
		{503, "2", 0}, // refused before reading, Retry-After rounded up
		{503, "2", 0},
		{500, "", 1}, // processed, then failed: the ambiguous case
		{200, "", 2}, // faults used up
	}
	for i, w := range want {
		rec := do(h, "POST", path, "tok5", "application/json", `{"script_code":"x"}`)
		if rec.Code != w.status || rec.Header().Get("Retry-After") != w.retryAfter || h.JobCount() != w.jobs {
			t.Errorf("request %d: status %d, Retry-After %q, jobs %d; want %d, %q, %d",
				i+1, rec.Code, rec.Header().Get("Retry-After"), h.JobCount(), w.status, w.retryAfter, w.jobs)
		}
	}
}

func TestRateLimitFollowsTheClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := metabottest.NewHandler(metabottest.WithClock(clock), metabottest.WithRateLimit(1, 2))
	h.AddBot(5, "tok5")
	send := func() *httptest.ResponseRecorder {
		return do(h, "POST", path, "tok5", "application/json", `{"script_code":"x"}`)
	}

	for i := range 2 {
		if w := send(); w.Code != 200 {
			t.Fatalf("burst request %d: status %d", i+1, w.Code)
		}
	}
	w := send()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the burst: status %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if w := send(); w.Code != 200 {
		t.Errorf("after a second: status %d, want 200", w.Code)
	}
	if h.JobCount() != 3 {
		t.Errorf("jobs = %d, want 3 (the limited request is not recorded)", h.JobCount())
	}
}

func TestServerIsConcurrencySafe(t *testing.T) {
	s := metabottest.NewServer()
	defer s.Close()
	s.AddBot(5, "tok5")
	c := s.Client()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(`{"script_code":"x"}`))
			req.Header.Set("Authorization", "Bearer tok5")
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
		_ = s.Jobs()
	}
	wg.Wait()
	if s.JobCount() != 20 || s.Requests() != 20 {
		t.Errorf("jobs %d, requests %d; want 20, 20", s.JobCount(), s.Requests())
	}
	seen := map[int64]bool{}
	for _, j := range s.Jobs() {
		seen[j.ID] = true
	}
	if len(seen) != 20 {
		t.Errorf("job ids are not unique: %v", seen)
	}
}
