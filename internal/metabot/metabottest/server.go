package metabottest

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
)

// Server is a Platform listening on a local HTTPS port with a self-signed certificate. The
// embedded *Platform holds the bots, jobs and faults.
type Server struct {
	*Platform
	// URL is the base URL, e.g. https://127.0.0.1:41234; pass it to metabot.New.
	URL string

	ts *httptest.Server
}

// NewServer starts a simulator over HTTPS (HTTP/1.1, so dropped connections are real TCP
// resets). Close it when done.
func NewServer(opts ...Option) *Server {
	h := NewHandler(opts...)
	ts := httptest.NewUnstartedServer(h)
	// Tests provoke TLS handshake failures and resets on purpose; their log lines are noise.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	return &Server{Platform: h, URL: ts.URL, ts: ts}
}

// Handler returns the simulated platform (an http.Handler).
func (s *Server) Handler() *Platform { return s.Platform }

// CAPEM returns the PEM of the server's self-signed certificate, for metabot.WithCABundle.
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// Client returns an HTTP client that trusts the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close drops every connection (ending any injected latency) and stops the server.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
}
