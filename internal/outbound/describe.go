package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Describe reports a transport failure in a fixed vocabulary ("TLS verification failed",
// "connection refused", "timed out", "DNS lookup failed", ...). The raw text of such an error
// names addresses, ephemeral ports and certificate subjects (a certificate's SANs list the
// other names a server answers to), and the messages go into conditions that every reader of
// the object sees, so only these fixed phrases are used.
func Describe(err error) string {
	var refused *RefusedError
	var tooLarge *TooLargeError
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	var netErr net.Error
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &refused):
		return refused.Error()
	case errors.As(err, &tooLarge):
		return tooLarge.Error()
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS lookup failed: no such host"
		}
		if dnsErr.IsTimeout {
			return "DNS lookup failed: timed out"
		}
		return "DNS lookup failed"
	case errors.As(err, &unknownCA):
		return "TLS verification failed: certificate signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "TLS verification failed: certificate is not valid for the host"
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "TLS verification failed: certificate expired or not yet valid"
		}
		return "TLS verification failed: invalid certificate"
	case errors.As(err, &verify):
		return "TLS verification failed"
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http replaces the RecordHeaderError of an HTTP answer with a plain error.
		return "TLS handshake failed: the server did not answer with TLS"
	case errors.As(err, &alert):
		return "TLS handshake failed: the server sent an alert"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without a response"
	case strings.Contains(err.Error(), "tls: "):
		// crypto/tls reports most handshake failures as plain errors.
		return "TLS handshake failed"
	default:
		return "connection failed"
	}
}

// MaxMessageRunes bounds a remote text (an error_description) in every message: a condition
// message has to stay under the API server's 32 KiB limit, and one short line reads better in
// `kubectl get` and in logs.
const MaxMessageRunes = 200

// OneLine collapses whitespace and control characters into single spaces, drops invalid UTF-8
// and cuts s to at most MaxMessageRunes runes (ending in "…" when it was cut). Redact secrets
// before calling it: a cut could split a secret so that replacing it no longer matches.
func OneLine(s string) string {
	out := make([]rune, 0, min(len(s), MaxMessageRunes+1))
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) {
			space = len(out) > 0
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, r)
		if len(out) > MaxMessageRunes {
			out = append(out[:MaxMessageRunes-1], '…')
			break
		}
	}
	return string(out)
}
