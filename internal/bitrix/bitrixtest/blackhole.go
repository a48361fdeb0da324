package bitrixtest

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
)

// Blackhole is a portal that accepts connections and requests and never answers: what a
// portal behind a dead proxy or an overloaded host looks like from the operator. It counts the
// requests that reached it.
type Blackhole struct {
	// URL is the base URL (https://127.0.0.1:port).
	URL string

	ts       *httptest.Server
	quit     chan struct{}
	once     sync.Once
	requests atomic.Int64
}

// NewBlackhole starts a Blackhole with its own TLS certificate (CAPEM).
func NewBlackhole() *Blackhole {
	b := &Blackhole{quit: make(chan struct{})}
	b.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		select {
		case <-r.Context().Done():
		case <-b.quit:
		}
	}))
	b.URL = b.ts.URL
	return b
}

// WebhookURL is an inbound webhook URL on the blackhole.
func (b *Blackhole) WebhookURL(code string) string { return b.URL + "/rest/1/" + code + "/" }

// CAPEM is the PEM certificate the blackhole serves.
func (b *Blackhole) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.ts.Certificate().Raw})
}

// Requests counts the requests that reached the blackhole.
func (b *Blackhole) Requests() int64 { return b.requests.Load() }

// Close releases the requests held and stops the server.
func (b *Blackhole) Close() {
	b.once.Do(func() { close(b.quit) })
	b.ts.Close()
}
