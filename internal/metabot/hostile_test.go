package metabot_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/outbound"
)

func hostileServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func scheduleOnce(t *testing.T, url string, opts ...metabot.Option) error {
	t.Helper()
	c, err := metabot.New(url, botID, token, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = c.Schedule(t.Context(), metabot.Job{Target: metabot.ScriptCode("digest")})
	return err
}

func TestHostileMetabot(t *testing.T) {
	elsewhere, elsewhereHits := hostileServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	elsewhereHost := strings.TrimPrefix(elsewhere.URL, "http://")
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)

	cases := []struct {
		name    string
		handler http.HandlerFunc // nil: use url
		url     string
		opts    []metabot.Option
		kind    metabot.Kind
		want    string
	}{
		{
			name: "a redirect to another host is not followed and names the host",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
			},
			kind: metabot.Permanent, want: "the Metabot endpoint moved to " + elsewhereHost + "; update spec.url",
		},
		{
			name: "a 40 KB error message is cut to one line",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				_, _ = io.WriteString(w, `{"message":"`+strings.Repeat("bad\\n", 8<<10)+`"}`)
			},
			kind: metabot.Permanent, want: "bad bad bad",
		},
		{
			name: "a hostile error echoing the token does not carry it",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":"`+token+`","message":"`+strings.Repeat("x", 190)+token+`"}`)
			},
			kind: metabot.Permanent, want: "[redacted]",
		},
		{
			name: "an untrusted certificate is reported without its names",
			url:  tlsSrv.URL,
			kind: metabot.Definite, want: "not sent: TLS verification failed: certificate signed by an unknown authority",
		},
		{
			name:    "the egress policy refuses a private address, for good",
			handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) },
			opts:    []metabot.Option{metabot.WithOutboundPolicy(&outbound.Policy{DenyPrivate: true})},
			kind:    metabot.Permanent, want: "not sent: refused by the operator's outbound policy: 127.0.0.1 resolves to a loopback address",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			var hits *atomic.Int32
			if tc.handler != nil {
				var srv *httptest.Server
				srv, hits = hostileServer(t, tc.handler)
				url = srv.URL
			}
			before := elsewhereHits.Load()
			err := scheduleOnce(t, url, tc.opts...)
			var me *metabot.Error
			if !errors.As(err, &me) {
				t.Fatalf("got %T %v", err, err)
			}
			msg := err.Error()
			if me.Kind != tc.kind || !strings.Contains(msg, tc.want) {
				t.Fatalf("got %q (%s), want %s containing %q", msg, me.Kind, tc.kind, tc.want)
			}
			if strings.ContainsAny(msg, "\n\t") || len([]rune(me.Message)) > 250 {
				t.Fatalf("message is not one short line: %d characters", len([]rune(me.Message)))
			}
			for _, leak := range []string{token[:12], "example.com", "x509", "dial tcp"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("%q reflects %q", msg, leak)
				}
			}
			if elsewhereHits.Load() != before {
				t.Fatal("the redirect target was called")
			}
			if tc.opts != nil && hits.Load() != 0 {
				t.Fatal("a refused call reached the endpoint")
			}
		})
	}
}

// TestHostileMetabotBodyIsBounded: a 30 MB answer costs the client its cap, not the answer.
func TestHostileMetabotBodyIsBounded(t *testing.T) {
	srv, _ := hostileServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("z", 64<<10))
		for range 30_000_000 / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := scheduleOnce(t, srv.URL)
	runtime.ReadMemStats(&after)
	if !metabot.IsAmbiguous(err) {
		t.Fatalf("a 5xx is ambiguous whatever its body: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 20<<20 {
		t.Fatalf("the call allocated %d MiB for a 30 MB answer", alloc>>20)
	}
	var me *metabot.Error
	if errors.As(err, &me) && len(me.Body) > metabot.DefaultMaxResponseBytes {
		t.Fatalf("kept %d bytes of the body", len(me.Body))
	}
	if _, err := metabot.New(srv.URL, botID, token, metabot.WithMaxResponseBytes(10)); err == nil {
		t.Fatal("a cap under 1 KiB was accepted")
	}
}
