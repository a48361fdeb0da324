// Command b24sim serves the Bitrix24 and Metabot simulators over one HTTPS listener, for
// `make run`, for manual experiments and for users' CI. It is the in-process simulators of
// internal/bitrix/bitrixtest and internal/metabot/metabottest, given certificates, credentials
// from flags and a read-only inspection endpoint.
//
//	go run ./cmd/b24sim --cert-dir .b24sim --ready-file .b24sim/ready
//
// Files in --cert-dir: ca.crt (trust this), ca.key, tls.crt, tls.key (reused across runs while
// valid and covering the SANs) and credentials.json (webhook URLs, OAuth tokens, Metabot
// tokens; mode 0600). Nothing secret is printed to stdout or logged. The operator reads a
// Secret holding one of those credentials only when it carries the label
// b24ops.io/credentials: "true".
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for an image with no /etc/ssl (used only when the system has none)

	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "b24sim:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down cleanly.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "b24sim: ", log.LstdFlags)

	if cfg.certDir == "" {
		if cfg.certDir, err = os.MkdirTemp("", "b24sim-"); err != nil {
			return err
		}
	}
	if cfg.certDir, err = filepath.Abs(cfg.certDir); err != nil {
		return err
	}

	// Listen first: with port 0 the public URL, and so the webhook URLs, depend on the port.
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	base, err := publicURL(cfg.publicURL, ln.Addr().(*net.TCPAddr))
	if err != nil {
		return err
	}

	u, _ := url.Parse(base)
	sans := append(append([]string{}, cfg.sans...), u.Hostname())
	if host, _, err := net.SplitHostPort(cfg.listen); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			sans = append(sans, host)
		}
	}
	crt, err := ensureCerts(cfg.certDir, certSANs(sans...), time.Now())
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	if len(crt.issued) > 0 {
		logger.Printf("issued %s in %s", strings.Join(crt.issued, " and "), cfg.certDir)
	} else {
		logger.Printf("reusing certificates in %s", cfg.certDir)
	}

	mb := metabottest.NewHandler(metabotOptions(cfg)...)
	for _, b := range cfg.metabotBots {
		mb.AddBot(b.id, b.token)
	}
	bx, err := newBitrix(cfg, base)
	if err != nil {
		return err
	}
	creds := credentials{
		URL:    base,
		CAFile: filepath.Join(cfg.certDir, caCertFile),
		Bitrix: bx.credentials(),
		Metabot: metabotCredentials{
			URL:     base,
			APIPath: mb.APIPath(),
		},
	}
	for _, b := range cfg.metabotBots {
		creds.Metabot.Bots = append(creds.Metabot.Bots, metabotBotCredentials{ID: b.id, Token: b.token})
	}
	credFile := filepath.Join(cfg.certDir, credentialsFile)
	if err := writeJSONFile(credFile, creds, 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/rest/", bx)
	mux.Handle("/oauth/", bx)
	mux.Handle(mb.APIPath()+"/", mb)
	mux.Handle("GET /_sim/state", stateHandler(mb, bx))
	mux.HandleFunc("GET /_sim/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "b24sim: no such endpoint; see /_sim/state", http.StatusNotFound)
	})

	var h http.Handler = faults(mux, cfg, mb.APIPath())
	if !cfg.quiet {
		h = logRequests(h, logger)
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{crt.server}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(stderr, "b24sim: http: ", log.LstdFlags),
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()

	logger.Printf("listening on %s (Bitrix24 /rest/ and /oauth/token/, Metabot %s/, state /_sim/state)", base, mb.APIPath())
	logger.Printf("CA certificate %s, credentials %s", creds.CAFile, credFile)
	if cfg.readyFile != "" {
		if err := writeFileAtomic(cfg.readyFile, []byte(base+"\n"), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
		defer os.Remove(cfg.readyFile)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests held by --latency or an injected fault may still be running: cut them.
		_ = srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func metabotOptions(cfg config) []metabottest.Option {
	opts := []metabottest.Option{metabottest.WithAPIPath(cfg.metabotAPIPath)}
	if cfg.metabotRatePerSecond > 0 {
		opts = append(opts, metabottest.WithRateLimit(cfg.metabotRatePerSecond, cfg.metabotRateBurst))
	}
	return opts
}

// publicURL is the base URL clients use: --public-url, or the listen address with an
// unspecified host (0.0.0.0, ::) replaced by localhost.
func publicURL(flagValue string, addr *net.TCPAddr) (string, error) {
	if flagValue != "" {
		u, err := url.Parse(flagValue)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", fmt.Errorf("--public-url %q: want https://host[:port]", flagValue)
		}
		return strings.TrimSuffix(u.String(), "/"), nil
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port)), nil
}

// faults applies --latency and --fail-rate to API requests (not to /_sim/ or the OAuth token
// endpoint, which the operator's own tests need to be reliable). A failed request is
// answered 500 before it is processed.
func faults(next http.Handler, cfg config, metabotPath string) http.Handler {
	if cfg.latency == 0 && cfg.failRate == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isBitrix := strings.HasPrefix(r.URL.Path, "/rest/")
		isMetabot := strings.HasPrefix(r.URL.Path, metabotPath+"/")
		if !isBitrix && !isMetabot {
			next.ServeHTTP(w, r)
			return
		}
		if cfg.latency > 0 {
			t := time.NewTimer(cfg.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if cfg.failRate > 0 && rand.Float64() < cfg.failRate {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			if isBitrix {
				_, _ = io.WriteString(w, `{"error":"INTERNAL_SERVER_ERROR","error_description":"b24sim: injected failure (--fail-rate)"}`)
			} else {
				_, _ = io.WriteString(w, `{"success":false,"message":"b24sim: injected failure (--fail-rate)"}`)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// logRequests logs one plain line per request. Webhook paths carry the webhook's secret
// code (/rest/{user}/{code}/{method}) and queries may carry tokens, so neither is logged.
func logRequests(next http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			logger.Printf("%s %s %d %s", r.Method, redactPath(r.URL.Path), rec.status, time.Since(start).Round(10*time.Microsecond))
		}()
		next.ServeHTTP(rec, r)
	})
}

// redactPath hides the secret part of a webhook path: /rest/1/CODE/x -> /rest/1/***/x.
func redactPath(p string) string {
	parts := strings.SplitN(p, "/", 5) // "", "rest", user, code, rest
	if len(parts) >= 4 && parts[1] == "rest" && isDigits(parts[2]) {
		parts[3] = "***"
		return strings.Join(parts, "/")
	}
	return p
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the Metabot simulator hijacks
// it to drop connections).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeJSONFile(path string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), perm)
}
