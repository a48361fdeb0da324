package metabot

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name, header string
		want         time.Duration
	}{
		{"absent header means no delay", "", 0},
		{"delay-seconds are read", "7", 7 * time.Second},
		{"surrounding space is tolerated", " 12 ", 12 * time.Second},
		{"an HTTP date is converted to a delay", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"a date in the past means no delay", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"a huge delay is capped", "99999999999999999", maxRetryAfter},
		{"a far-future date is capped", now.AddDate(5, 0, 0).Format(http.TimeFormat), maxRetryAfter},
		{"negative seconds are ignored", "-5", 0},
		{"garbage is ignored", "soon", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.header, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	const tok = "s3cr3tT0ken"
	cases := []struct {
		name, body, want string
	}{
		{"message field is used", `{"message":"Script not found"}`, "Script not found"},
		{"error and description are joined", `{"error":"invalid_request","error_description":"bad bot"}`, "invalid_request: bad bot"},
		{"first Laravel field error is appended, alphabetically", `{"message":"The given data was invalid.","errors":{"script_id":["must be an integer"],"lead_id":["must be positive"]}}`, "The given data was invalid.: lead_id: must be positive"},
		{"an HTML error page yields nothing", `<html><body>502 Bad Gateway</body></html>`, ""},
		{"non-string message is ignored", `{"message":{"nested":true}}`, ""},
		{"newlines and tabs collapse to one line", "{\"message\":\"line one\\n\\tline two\"}", "line one line two"},
		{"an echoed token is redacted", `{"message":"token s3cr3tT0ken is expired"}`, "token [redacted] is expired"},
		{"a long message is truncated", `{"message":"` + strings.Repeat("x", 300) + `"}`, strings.Repeat("x", maxMessageRunes) + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorMessage([]byte(tc.body), tok); got != tc.want {
				t.Errorf("errorMessage(%s) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

// FuzzDecodeResponse pins the invariants of the only decoding the client does on untrusted
// input, an error answer's body and Retry-After header: the message is short, one line,
// valid UTF-8 and never contains the token; the delay is within [0, maxRetryAfter].
// (`make test` fuzzes it as FuzzDecode.)
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"message":"Script not found"}`), "abcdefgh12", "120")
	f.Add([]byte(`{"message":"x","errors":{"a":["b"],"c":"d"}}`), "abcdefgh12", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add([]byte(`{"error":"abcdefgh12abcdefgh12"}`), "abcdefgh12", "-1")
	f.Add([]byte("{\"message\":\"a\\u0000b\\ud800\"}"), "token1234", "99999999999999999999")
	f.Fuzz(func(t *testing.T, body []byte, token, retryAfter string) {
		got := errorMessage(body, token)
		if !utf8.ValidString(got) {
			t.Errorf("invalid UTF-8: %q", got)
		}
		if strings.ContainsAny(got, "\r\n\t") {
			t.Errorf("not one line: %q", got)
		}
		if n := utf8.RuneCountInString(got); n > maxMessageRunes+1 {
			t.Errorf("%d runes, want at most %d", n, maxMessageRunes+1)
		}
		// Only tokens that look like real ones (no characters of "[redacted]" or spaces) can
		// be checked this way: redaction itself could otherwise spell a contrived token.
		if len(token) >= 8 && isAlnum(token) && strings.Contains(got, token) {
			t.Errorf("token %q leaked into %q", token, got)
		}
		if d := parseRetryAfter(retryAfter, time.Now()); d < 0 || d > maxRetryAfter {
			t.Errorf("parseRetryAfter(%q) = %v, out of [0, %v]", retryAfter, d, maxRetryAfter)
		}
	})
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
