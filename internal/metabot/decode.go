package metabot

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// maxRetryAfter caps what a server may ask for, so a bogus header cannot park a job
	// for years; the caller's own backoff takes over from there.
	maxRetryAfter = time.Hour
	// maxMessageRunes keeps messages short enough for a Kubernetes condition.
	maxMessageRunes = 200
)

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date. It returns 0
// for an absent or unreadable header and never a negative duration.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	return d
}

// errorMessage extracts a human-readable reason from an error body. Metabot's error format is
// undocumented; the platform is a Laravel application, so {"message": ..., "errors": {field:
// [...]}} is the likely shape, and "error" / "error_description" are accepted too. Bodies that
// are not JSON (HTML error pages) yield "". The token, should the server echo it, is
// redacted, and the result is one line of at most maxMessageRunes runes.
func errorMessage(body []byte, token string) string {
	var doc struct {
		Message          any `json:"message"`
		Error            any `json:"error"`
		ErrorDescription any `json:"error_description"`
		Errors           any `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return ""
	}
	var parts []string
	for _, v := range []any{doc.Message, doc.Error, doc.ErrorDescription} {
		if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	if detail := firstFieldError(doc.Errors); detail != "" {
		parts = append(parts, detail)
	}
	msg := strings.Join(parts, ": ")
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "[redacted]")
	}
	return oneLine(msg, maxMessageRunes)
}

// firstFieldError returns "field: reason" for the alphabetically first field of a Laravel
// validation error map, so the message is the same on every attempt.
func firstFieldError(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch r := m[k].(type) {
		case string:
			return k + ": " + r
		case []any:
			if len(r) > 0 {
				if s, ok := r[0].(string); ok {
					return k + ": " + s
				}
			}
		}
	}
	return ""
}

// oneLine collapses whitespace and control characters into single spaces, drops invalid
// UTF-8 and truncates to max runes.
func oneLine(s string, max int) string {
	var b strings.Builder
	space, n := false, 0
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if n >= max {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
