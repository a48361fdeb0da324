package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Policy says which endpoints the operator may call. The zero value (and a nil *Policy) allows
// everything: self-hosted portals often live on private addresses, so the policy is opt-in.
type Policy struct {
	// AllowHosts, when not empty, lists the host names that may be called: "portal.example.com"
	// matches that host only, "*.bitrix24.ru" any subdomain of bitrix24.ru (not bitrix24.ru
	// itself). Matching is case-insensitive and ignores the port.
	AllowHosts []string
	// DenyPrivate refuses connections to loopback, link-local (cloud metadata endpoints),
	// private, carrier-grade NAT, unique-local and unspecified addresses, and to DenyCIDRs.
	DenyPrivate bool
	// DenyCIDRs are refused on top of the ranges above when DenyPrivate is set: the cluster's
	// pod and service ranges when they are not private addresses.
	DenyCIDRs []netip.Prefix
}

// ErrRefused is wrapped by every error that the policy returns.
var ErrRefused = errors.New("refused by the operator's outbound policy")

// RefusedError is a connection the policy refused. Its message names the host the user wrote
// (never the address it resolved to: that could map a cluster's internal names).
type RefusedError struct {
	Host   string
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s %s", ErrRefused, e.Host, e.Reason)
}

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Active reports whether the policy refuses anything at all.
func (p *Policy) Active() bool {
	return p != nil && (len(p.AllowHosts) > 0 || p.DenyPrivate)
}

// Validate checks the allow-list patterns.
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}
	for _, h := range p.AllowHosts {
		name := strings.TrimPrefix(h, "*.")
		if name == "" || strings.ContainsAny(name, "*/:@ ") {
			return fmt.Errorf("outbound policy: %q is not a host name or a *.domain pattern", h)
		}
	}
	return nil
}

// CheckHost refuses a host name that is not on the allow-list.
func (p *Policy) CheckHost(host string) error {
	if p == nil || len(p.AllowHosts) == 0 {
		return nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.AllowHosts {
		pat = strings.ToLower(strings.TrimSuffix(pat, "."))
		if suffix, ok := strings.CutPrefix(pat, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return nil
			}
		} else if host == pat {
			return nil
		}
	}
	return &RefusedError{Host: host, Reason: "is not on the allow-list"}
}

// refusedRanges are the ranges DenyPrivate refuses beyond what netip's predicates cover.
var refusedRanges = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT, often a cluster's pod range
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 of any IPv4 address, private ones included
}

// checkAddr refuses an address DenyPrivate covers.
func (p *Policy) checkAddr(a netip.Addr) string {
	if p == nil || !p.DenyPrivate {
		return ""
	}
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "resolves to a loopback address"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "resolves to a link-local address"
	case a.IsPrivate():
		return "resolves to a private address"
	case a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "resolves to a non-unicast address"
	}
	for _, r := range slices.Concat(refusedRanges, p.DenyCIDRs) {
		if r.Contains(a) {
			return "resolves to a refused address range"
		}
	}
	return ""
}

// hostKey carries the host name being dialled to the dialer's Control function, which only
// sees the resolved address.
type hostKey struct{}

// control returns a net.Dialer Control function: it runs after DNS resolution, on the address
// the socket is about to connect to, so a name that resolves to a refused address (DNS
// rebinding included) is refused whatever it resolved to when the object was admitted.
func (p *Policy) control(host string) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Host: host, Reason: "resolves to an address that cannot be checked"}
		}
		if reason := p.checkAddr(ap.Addr()); reason != "" {
			return &RefusedError{Host: host, Reason: reason}
		}
		return nil
	}
}

// Transport makes tr enforce the policy (tr is changed; pass a clone). The allow-list is
// checked on every request's URL host (a redirect target included); the address ranges on
// every connection the transport dials. With an HTTP proxy from the environment, the
// addresses checked are the proxy's.
func (p *Policy) Transport(tr *http.Transport) http.RoundTripper {
	if !p.Active() {
		return tr
	}
	if p.DenyPrivate {
		base := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			d := *base
			d.Control = p.control(host)
			return d.DialContext(ctx, network, addr)
		}
	}
	if len(p.AllowHosts) == 0 {
		return tr
	}
	return &allowListTransport{policy: p, base: tr}
}

type allowListTransport struct {
	policy *Policy
	base   *http.Transport
}

func (t *allowListTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.policy.CheckHost(req.URL.Hostname()); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the transport.
func (t *allowListTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// Unwrap returns the underlying transport.
func (t *allowListTransport) Unwrap() *http.Transport { return t.base }
