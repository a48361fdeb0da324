package bitrix_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/outbound"
)

// hostile is a plain-HTTP endpoint that answers every request with handler and counts them.
type hostile struct {
	*httptest.Server
	requests atomic.Int32
}

func newHostile(t *testing.T, handler http.HandlerFunc) *hostile {
	t.Helper()
	h := &hostile{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		handler(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostile) webhook() string { return h.URL + "/rest/1/" + webhookCode + "/" }

func hostileClient(t *testing.T, h *hostile, opts ...bitrix.Option) *bitrix.Client {
	t.Helper()
	all := append([]bitrix.Option{
		bitrix.WithWebhook(h.webhook(), clientID),
		bitrix.WithRateLimit(10000, 10000),
		bitrix.WithRetries(fastRetries, time.Millisecond, 5*time.Millisecond),
	}, opts...)
	c, err := bitrix.New(all...)
	mustNoErr(t, err)
	return c
}

// stream writes prefix, n bytes of fill, then suffix, without holding them in memory.
func stream(w http.ResponseWriter, prefix string, n int, fill byte, suffix string) {
	_, _ = io.WriteString(w, prefix)
	chunk := []byte(strings.Repeat(string(fill), 64<<10))
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		n -= k
	}
	_, _ = io.WriteString(w, suffix)
}

const thirtyMB = 30_000_000

// TestOversizedAnswers pins the memory bound: a portal answering 30 MB costs the client at
// most the size cap (a few MiB) plus the decoder's working set, never the whole answer, and
// the call fails with a terminal RESPONSE_TOO_LARGE without being repeated.
func TestOversizedAnswers(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"a 30 MB result, length unknown (chunked)", func(w http.ResponseWriter, _ *http.Request) {
			stream(w, `{"result":"`, thirtyMB, 'a', `"}`)
		}},
		{"a 30 MB result with its Content-Length declared", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(`{"result":"`)+thirtyMB+2))
			stream(w, `{"result":"`, thirtyMB, 'a', `"}`)
		}},
		{"a 30 MB error_description on HTTP 400", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			stream(w, `{"error":"WRONG_REQUEST","error_description":"`, thirtyMB, 'x', `"}`)
		}},
		{"30 MB of JSON whitespace before the answer", func(w http.ResponseWriter, _ *http.Request) {
			stream(w, "", thirtyMB, ' ', `{"result":true}`)
		}},
		{"a 30 MB answer on HTTP 500 is not retried either", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			stream(w, `{"result":[`, thirtyMB/2, '1', `]}`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostile(t, tc.handler)
			c := hostileClient(t, h)
			ctx := testContext(t)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := c.Scope(ctx)
			runtime.ReadMemStats(&after)

			be := wantCode(t, err, "RESPONSE_TOO_LARGE")
			if !bitrix.IsTerminal(err) || bitrix.IsAmbiguous(err) {
				t.Fatalf("an oversized answer is terminal: %v", err)
			}
			if !strings.Contains(be.Error(), "larger than the 4 MiB limit") {
				t.Fatalf("error %q does not say what the limit is", be)
			}
			if n := h.requests.Load(); n != 1 {
				t.Fatalf("the portal was asked %d times, want once", n)
			}
			// Everything the process allocated during the call, server side included.
			t.Logf("allocated %.1f MiB", float64(after.TotalAlloc-before.TotalAlloc)/(1<<20))
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 20<<20 {
				t.Fatalf("the call allocated %d MiB for a 30 MB answer, want < 20 MiB", alloc>>20)
			}
		})
	}
}

func TestMaxResponseBytesOption(t *testing.T) {
	body := `{"result":["` + strings.Repeat("s", 3000) + `"]}`
	h := newHostile(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
	ctx := testContext(t)

	_, err := hostileClient(t, h, bitrix.WithMaxResponseBytes(2<<10)).Scope(ctx)
	wantCode(t, err, "RESPONSE_TOO_LARGE")

	_, err = hostileClient(t, h, bitrix.WithMaxResponseBytes(4<<10)).Scope(ctx)
	mustNoErr(t, err)

	if _, err := bitrix.New(bitrix.WithWebhook(h.webhook(), clientID), bitrix.WithMaxResponseBytes(10)); err == nil {
		t.Fatal("a cap under 1 KiB was accepted")
	}
}

// TestResponseBudget pins the bound on bytes in flight: a call takes its share of the shared
// budget before reading an answer, so with the budget in use it waits, and goes on once the
// budget is given back.
func TestResponseBudget(t *testing.T) {
	h := newHostile(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"result":["imbot"]}`) })
	budget := outbound.NewBudget(64 << 10)
	c := hostileClient(t, h, bitrix.WithResponseBudget(budget))

	release, err := budget.Acquire(context.Background(), budget.Bytes()) // another call holds it all
	mustNoErr(t, err)
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Scope(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with the budget in use the call must wait for it; got %v", err)
	}

	done := make(chan error, 1)
	go func() { _, err := c.Scope(testContext(t)); done <- err }()
	release()
	mustNoErr(t, <-done)
}

// TestLongRemoteErrors pins that whatever the portal writes, an error's message stays one line
// of at most 200 characters of it: a condition message must stay under the API server's limit.
func TestLongRemoteErrors(t *testing.T) {
	long := strings.Repeat("é word\n\t", 100<<10/9) // ~100 KB, multi-byte, with line breaks
	cases := []struct {
		name string
		body string
		call func(c *bitrix.Client, ctx context.Context) error
	}{
		{"a 100 KB error_description", `{"error":"WRONG_REQUEST","error_description":"` + strings.ReplaceAll(strings.ReplaceAll(long, "\n", `\n`), "\t", `\t`) + `"}`,
			func(c *bitrix.Client, ctx context.Context) error { _, err := c.Scope(ctx); return err }},
		{"a 100 KB error code", `{"error":"` + strings.Repeat("E", 100<<10) + `"}`,
			func(c *bitrix.Client, ctx context.Context) error { _, err := c.Scope(ctx); return err }},
		{"a 100 KB error_description inside a batch", `{"result":{"result":[],"result_error":{"a":{"error":"WRONG_REQUEST","error_description":"` + strings.Repeat("z", 100<<10) + `"}}}}`,
			func(c *bitrix.Client, ctx context.Context) error {
				res, err := c.Batch(ctx, []bitrix.BatchCommand{{Key: "a", Method: "imbot.bot.list"}}, false)
				if err != nil {
					return err
				}
				return res.Err("a")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostile(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, tc.body)
			})
			err := tc.call(hostileClient(t, h), testContext(t))
			if err == nil {
				t.Fatal("no error")
			}
			var be *bitrix.Error
			if !errors.As(err, &be) {
				t.Fatalf("%T %v", err, err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\t\r") {
				t.Fatalf("message is not one line: %q", msg[:min(len(msg), 300)])
			}
			if n := len([]rune(be.Description)); n > 200 {
				t.Fatalf("description has %d characters, want at most 200", n)
			}
			if n := len([]rune(be.Code)); n > 64 {
				t.Fatalf("code has %d characters, want at most 64", n)
			}
			if len(msg) > 1024 {
				t.Fatalf("message is %d bytes long", len(msg))
			}
		})
	}
}

// TestHostileEchoesNoSecret: a portal that echoes the webhook code in whatever it answers
// (error_description, the error code, past the point where a description is cut) does not get
// it into the error.
func TestHostileEchoesNoSecret(t *testing.T) {
	cases := []struct{ name, body string }{
		{"in error_description", `{"error":"WRONG_REQUEST","error_description":"your code is ` + webhookCode + `"}`},
		{"as the error code", `{"error":"` + webhookCode + `"}`},
		{"straddling the 200-character cut", `{"error":"WRONG_REQUEST","error_description":"` + strings.Repeat("x", 195) + webhookCode + `"}`},
		{"after a line break", `{"error":"WRONG_REQUEST","error_description":"fine\n` + webhookCode + `"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostile(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, tc.body)
			})
			_, err := hostileClient(t, h).Scope(testContext(t))
			if err == nil {
				t.Fatal("no error")
			}
			// Any 6 characters of the code would be a leak.
			for i := 0; i+6 <= len(webhookCode); i++ {
				if part := webhookCode[i : i+6]; strings.Contains(err.Error(), part) {
					t.Fatalf("error %q contains %q of the webhook code", err, part)
				}
			}
		})
	}
}

// TestTransportErrorVocabulary pins that transport failures read as fixed phrases, without the
// addresses, ports or certificate names that the raw errors carry.
func TestTransportErrorVocabulary(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // its certificate: example.com, 127.0.0.1, ::1
	t.Cleanup(tlsSrv.Close)
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	mustNoErr(t, err)
	refusedAddr := refused.Addr().String()
	_ = refused.Close()
	hang := newHostile(t, func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		<-r.Context().Done()
	})
	plain := plainHTTPListener(t)

	cases := []struct {
		name, url, want string
		opts            []bitrix.Option
	}{
		{"an untrusted certificate", tlsSrv.URL, "TLS verification failed: certificate signed by an unknown authority", nil},
		{"a closed port", "http://" + refusedAddr, "connection refused", nil},
		{"a name that does not resolve", "http://no-such-portal.invalid", "DNS lookup failed", nil},
		{"an answer that never comes", hang.URL, "timed out", []bitrix.Option{bitrix.WithRequestTimeout(50 * time.Millisecond)}},
		{"plain HTTP on an https URL", "https://" + plain, "TLS handshake failed: the server did not answer with TLS", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]bitrix.Option{
				bitrix.WithWebhook(tc.url+"/rest/1/"+webhookCode+"/", clientID),
				bitrix.WithRetries(0, time.Millisecond, time.Millisecond),
			}, tc.opts...)
			c, err := bitrix.New(opts...)
			mustNoErr(t, err)
			_, err = c.Scope(testContext(t))
			be := wantCode(t, err, "NETWORK_ERROR")
			if !strings.HasPrefix(be.Description, tc.want) {
				t.Fatalf("description %q, want %q", be.Description, tc.want)
			}
			for _, leak := range []string{"127.0.0.1", "example.com", "::1", ":" + strings.Split(refusedAddr, ":")[1], "x509", "dial tcp"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q reflects %q", err, leak)
				}
			}
		})
	}
}

// TestOutcomeLabelsAreBounded: a portal answering a new error code per request (or a token as
// the code) does not create a metric series per code.
func TestOutcomeLabelsAreBounded(t *testing.T) {
	var n atomic.Int32
	h := newHostile(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"MADE_UP_%d"}`, n.Add(1))
	})
	c := hostileClient(t, h, bitrix.WithPortalLabel("labels.example"))
	for range 5 {
		_, err := c.Scope(testContext(t))
		wantCode(t, err, "MADE_UP_"+strconv.Itoa(int(n.Load())))
	}
	reg := prometheus.NewRegistry()
	bitrix.RegisterMetrics(reg)
	families, err := reg.Gather()
	mustNoErr(t, err)
	others := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			portal, outcome := "", ""
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "portal":
					portal = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			if portal != "labels.example" || outcome == "" {
				continue
			}
			if strings.HasPrefix(outcome, "MADE_UP") {
				t.Fatalf("outcome label %q comes from the remote side", outcome)
			}
			if outcome == "other" {
				others++
			}
		}
	}
	if others != 1 {
		t.Fatalf("want the made-up codes in one outcome=other series, got %d", others)
	}
}

// plainHTTPListener answers every connection with a plain-HTTP 400 at once, as a web server
// does to a TLS client on its HTTP port, and returns its address.
func plainHTTPListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	mustNoErr(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			_ = conn.Close()
		}
	}()
	return l.Addr().String()
}

// TestOutboundPolicy pins the egress policy: the allow-list is checked on the host the URL
// names, the address ranges on the address actually dialled, so a name that resolves to a
// refused address (as a DNS rebinding attack makes it) is refused although the name is
// allowed. Refusals are terminal and never reach the endpoint.
func TestOutboundPolicy(t *testing.T) {
	h := newHostile(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"result":["imbot"]}`) })
	port := h.Listener.Addr().(*net.TCPAddr).Port
	byName := fmt.Sprintf("http://localhost:%d/rest/1/%s/", port, webhookCode)
	cases := []struct {
		name, url string
		policy    *outbound.Policy
		want      string // "" for success
	}{
		{"off by default: a loopback portal is called", h.webhook(), nil, ""},
		{"an allowed name that resolves to loopback is refused on the dialled address", byName,
			&outbound.Policy{AllowHosts: []string{"localhost"}, DenyPrivate: true}, "localhost resolves to a loopback address"},
		{"a literal private address is refused", h.webhook(),
			&outbound.Policy{DenyPrivate: true}, "127.0.0.1 resolves to a loopback address"},
		{"a host off the allow-list is refused before dialling", h.webhook(),
			&outbound.Policy{AllowHosts: []string{"*.bitrix24.ru"}}, "127.0.0.1 is not on the allow-list"},
		{"an allowed host with private ranges permitted is called", byName,
			&outbound.Policy{AllowHosts: []string{"localhost"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.requests.Load()
			opts := []bitrix.Option{bitrix.WithWebhook(tc.url, clientID), bitrix.WithRetries(fastRetries, time.Millisecond, time.Millisecond)}
			if tc.policy != nil {
				opts = append(opts, bitrix.WithOutboundPolicy(tc.policy))
			}
			c, err := bitrix.New(opts...)
			mustNoErr(t, err)
			_, err = c.Scope(testContext(t))
			if tc.want == "" {
				mustNoErr(t, err)
				return
			}
			be := wantCode(t, err, "EGRESS_REFUSED")
			if !strings.Contains(be.Description, tc.want) || !errors.Is(err, outbound.ErrRefused) {
				t.Fatalf("description %q, want %q", be.Description, tc.want)
			}
			if !bitrix.IsTerminal(err) || bitrix.IsAmbiguous(err) {
				t.Fatalf("a refusal is terminal and certain: %v", err)
			}
			if n := h.requests.Load() - before; n != 0 {
				t.Fatalf("the endpoint got %d requests", n)
			}
		})
	}
}

// TestHostileResultsEchoNoSecret: a result of the wrong shape is reported without quoting it,
// since it may echo the webhook code.
func TestHostileResultsEchoNoSecret(t *testing.T) {
	for _, body := range []string{`{"result":"` + webhookCode + `"}`, `{"result":{"` + webhookCode + `":1}}`, `{"result":[{"ID":"` + webhookCode + `"}]}`} {
		h := newHostile(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
		c := hostileClient(t, h)
		ctx := testContext(t)
		_, err1 := c.Register(ctx, botParams("support"))
		_, err2 := c.BotList(ctx)
		_, err3 := c.Scope(ctx)
		failed := 0
		for _, err := range []error{err1, err2, err3} {
			if err == nil {
				continue
			}
			failed++
			wantCode(t, err, "INVALID_RESPONSE")
			if strings.Contains(err.Error(), webhookCode[:8]) {
				t.Fatalf("error %q quotes the result", err)
			}
		}
		if failed == 0 {
			t.Fatalf("no call failed on %s", body)
		}
	}
}
