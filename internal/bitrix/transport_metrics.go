package bitrix

import (
	"net/http"
	"path"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// requestDuration times every HTTP attempt (a retry is its own observation) from the moment
// it leaves the limiter to the response headers. Labels: the portal host, the REST method and
// the HTTP status code; a transport error records no observation (requests_total counts it).
var requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "b24ops_bitrix_request_duration_seconds",
	Help:    "Latency of Bitrix24 HTTP requests (each attempt) by portal, method and HTTP status code.",
	Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
}, []string{"portal", "method", "code"})

// instrumentTransport wraps next with client_golang's round-tripper instrumentation, curried
// with the portal label once per client.
func instrumentTransport(portal string, next http.RoundTripper) http.RoundTripper {
	obs := requestDuration.MustCurryWith(prometheus.Labels{"portal": portal})
	return &instrumentedTransport{
		RoundTripper: promhttp.InstrumentRoundTripperDuration(obs, next, promhttp.WithLabelFromRequest("method", methodLabel)),
		next:         next,
	}
}

// instrumentedTransport keeps http.Client.CloseIdleConnections working through the wrapper.
type instrumentedTransport struct {
	http.RoundTripper
	next http.RoundTripper
}

func (t *instrumentedTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// undottedMethods are the REST methods without a dot in their name.
var undottedMethods = map[string]bool{"batch": true, "profile": true, "scope": true, "methods": true}

// methodLabel names the REST method of a request from its URL: every REST call ends in the
// method (…/rest/1/CODE/imbot.register or …/rest/imbot.register), the OAuth refresh is
// /oauth/token/. Anything else is "other", so a webhook code, the one secret in a webhook URL's
// path, can never become a label value.
func methodLabel(r *http.Request) string {
	p := r.URL.Path
	if strings.HasPrefix(p, "/oauth/") {
		return "oauth.token"
	}
	m := strings.TrimSuffix(path.Base(p), ".json")
	if labelSafe.MatchString(m) && (strings.Contains(m, ".") || undottedMethods[m]) {
		return m
	}
	return "other"
}
