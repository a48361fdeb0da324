package metabot

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/b24ops/b24-operator/internal/outbound"
)

// WithMaxResponseBytes caps how much of a response is read (default DefaultMaxResponseBytes,
// at least 1 KiB). The rest is never read: the status alone decides the outcome.
func WithMaxResponseBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithOutboundPolicy refuses calls to hosts off p's allow-list and connections to the address
// ranges p denies, checked on the address actually dialled. A refused call fails as Permanent
// without being sent.
func WithOutboundPolicy(p *outbound.Policy) Option { return func(o *options) { o.policy = p } }

var hostSafe = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]{1,253}$`)

// redirectMessage explains a redirect, which is never followed (it could carry the token to
// another host): a move to another host names it so the user can update the URL.
func redirectMessage(resp *http.Response, endpoint string) string {
	loc, err := resp.Location()
	own, _ := url.Parse(endpoint)
	if err != nil || loc.Host == "" || own == nil || strings.EqualFold(loc.Host, own.Host) {
		return "redirect not followed; check the Metabot URL"
	}
	host := loc.Host
	if !hostSafe.MatchString(host) {
		host = "another host"
	}
	return fmt.Sprintf("the Metabot endpoint moved to %s; update spec.url (redirects are not followed)", host)
}
