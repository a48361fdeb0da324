package outbound

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestPolicyAddresses(t *testing.T) {
	deny := &Policy{DenyPrivate: true, DenyCIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
	cases := []struct {
		name, addr string
		refused    bool
	}{
		{"loopback", "127.0.0.1:443", true},
		{"loopback elsewhere in 127/8", "127.3.2.1:443", true},
		{"IPv6 loopback", "[::1]:443", true},
		{"cloud metadata (link-local)", "169.254.169.254:80", true},
		{"IPv6 link-local", "[fe80::1]:443", true},
		{"10/8", "10.1.2.3:443", true},
		{"172.16/12", "172.31.0.1:443", true},
		{"192.168/16", "192.168.1.1:443", true},
		{"carrier-grade NAT (a common pod range)", "100.64.0.10:443", true},
		{"IPv6 unique local", "[fd00::1]:443", true},
		{"IPv4-mapped private", "[::ffff:10.0.0.1]:443", true},
		{"NAT64 of anything", "[64:ff9b::a00:1]:443", true},
		{"unspecified", "0.0.0.0:443", true},
		{"an extra cluster range", "203.0.113.7:443", true},
		{"a public address", "93.184.216.34:443", false},
		{"a public IPv6 address", "[2606:2800:220:1::1]:443", false},
		{"172.32 is public", "172.32.0.1:443", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := deny.control("portal.example")("tcp", tc.addr, nil)
			if (err != nil) != tc.refused {
				t.Fatalf("control(%s) = %v, want refused=%v", tc.addr, err, tc.refused)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Fatalf("%v does not wrap ErrRefused", err)
			}
			if err != nil && (contains(err.Error(), tc.addr) || contains(err.Error(), "443")) {
				t.Fatalf("%q names the address dialled", err)
			}
			if err := (&Policy{}).control("portal.example")("tcp", tc.addr, nil); err != nil {
				t.Fatalf("the zero policy refuses %s: %v", tc.addr, err)
			}
		})
	}
}

func TestPolicyHosts(t *testing.T) {
	p := &Policy{AllowHosts: []string{"portal.example.com", "*.bitrix24.ru"}}
	cases := []struct {
		host    string
		allowed bool
	}{
		{"portal.example.com", true},
		{"PORTAL.example.com.", true},
		{"acme.bitrix24.ru", true},
		{"a.b.bitrix24.ru", true},
		{"bitrix24.ru", false},
		{"evilbitrix24.ru", false},
		{"portal.example.com.evil.io", false},
		{"127.0.0.1", false},
	}
	for _, tc := range cases {
		if err := p.CheckHost(tc.host); (err == nil) != tc.allowed {
			t.Errorf("CheckHost(%q) = %v, want allowed=%v", tc.host, err, tc.allowed)
		}
	}
	if err := (*Policy)(nil).CheckHost("anything"); err != nil {
		t.Errorf("a nil policy refuses: %v", err)
	}
	for _, bad := range []string{"", "*.", "a/b", "host:443", "*"} {
		if err := (&Policy{AllowHosts: []string{bad}}).Validate(); err == nil {
			t.Errorf("Validate accepted %q", bad)
		}
	}
}

func TestOneLine(t *testing.T) {
	long := ""
	for range 300 {
		long += "é"
	}
	cases := []struct{ name, in, want string }{
		{"collapses breaks and tabs", "a\n\n\tb  c\r\n", "a b c"},
		{"drops control characters and invalid UTF-8", "a\x00b\xffc", "a b c"},
		{"cuts to 200 runes with an ellipsis", long, string([]rune(long)[:199]) + "…"},
		{"keeps a short text", "fine", "fine"},
	}
	for _, tc := range cases {
		if got := OneLine(tc.in); got != tc.want {
			t.Errorf("%s: OneLine = %q, want %q", tc.name, got, tc.want)
		}
		if n := len([]rune(OneLine(tc.in))); n > MaxMessageRunes {
			t.Errorf("%s: %d runes", tc.name, n)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
