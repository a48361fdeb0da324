package bitrix

import (
	"errors"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// The collectors are package-level so every Client of the process (one per Portal) feeds the
// same series; RegisterMetrics hands them to the manager's registry. Labels hold only the
// portal host, method names and error codes: never a token, a webhook code or a URL path.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b24ops_bitrix_requests_total",
		Help: "Bitrix24 REST requests by portal, method and outcome (success or the error code).",
	}, []string{"portal", "method", "outcome"})

	limiterWaitSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "b24ops_bitrix_rate_limiter_wait_seconds",
		Help:    "Time spent waiting on the client-side rate limiter before a Bitrix24 request.",
		Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"portal"})

	retriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b24ops_bitrix_retries_total",
		Help: "Bitrix24 requests repeated by the client (rate limit, safe retries after 5xx or network errors, after a token refresh).",
	}, []string{"portal", "method"})

	tokenRefreshesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b24ops_bitrix_token_refreshes_total",
		Help: "OAuth token refreshes by portal and outcome (success, save_error or the error code).",
	}, []string{"portal", "outcome"})
)

// RegisterMetrics registers the package's collectors with reg (controller-runtime's
// metrics.Registry in the manager). Registering twice with the same registry is harmless;
// any other registration failure panics, like prometheus.MustRegister.
func RegisterMetrics(reg prometheus.Registerer) {
	for _, c := range []prometheus.Collector{requestsTotal, requestDuration, limiterWaitSeconds, retriesTotal, tokenRefreshesTotal} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			panic(err)
		}
	}
}

var labelSafe = regexp.MustCompile(`^[A-Za-z0-9_.]{1,64}$`)

// outcomeLabel maps an error to a bounded, secret-free label value.
func outcomeLabel(err error) string {
	if err == nil {
		return "success"
	}
	if e, ok := asError(err); ok && knownOutcome(e.Code) {
		return e.Code
	}
	return "other"
}

var httpCode = regexp.MustCompile(`^HTTP_[1-5][0-9][0-9]$`)

// knownOutcome bounds the outcome label: a hostile endpoint can answer any `error` it likes
// (a token, one new code per request), so only the codes the client knows, and HTTP_nnn,
// become label values.
func knownOutcome(code string) bool {
	if httpCode.MatchString(code) {
		return true
	}
	_, ok := classes[strings.ToUpper(code)]
	return ok
}
