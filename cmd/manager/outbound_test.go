package main

import (
	"strings"
	"testing"
)

func TestOutboundFlags(t *testing.T) {
	cases := []struct {
		name    string
		flags   outboundFlags
		wantErr string
	}{
		{"the defaults", outboundFlags{maxResponseSize: "4Mi", responseBudget: "32Mi"}, ""},
		{"a full policy", outboundFlags{maxResponseSize: "8Mi", responseBudget: "64Mi", allowHosts: "*.bitrix24.ru, portal.example.com",
			denyPrivate: true, denyCIDRs: "10.96.0.0/12,fd00:10::/64"}, ""},
		{"a size that is not a quantity", outboundFlags{maxResponseSize: "lots", responseBudget: "32Mi"}, "--max-response-size"},
		{"a size under 1 KiB", outboundFlags{maxResponseSize: "10", responseBudget: "32Mi"}, "--max-response-size"},
		{"a budget smaller than one answer", outboundFlags{maxResponseSize: "4Mi", responseBudget: "1Mi"}, "--response-budget"},
		{"a CIDR that does not parse", outboundFlags{maxResponseSize: "4Mi", responseBudget: "32Mi", denyPrivate: true, denyCIDRs: "10.0.0.0/33"}, "--egress-deny-cidrs"},
		{"CIDRs without deny-private", outboundFlags{maxResponseSize: "4Mi", responseBudget: "32Mi", denyCIDRs: "10.0.0.0/8"}, "needs --egress-deny-private"},
		{"a URL in the allow-list", outboundFlags{maxResponseSize: "4Mi", responseBudget: "32Mi", allowHosts: "https://portal.example.com/"}, "--egress-allow-hosts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bo, mo, err := tc.flags.options()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("options: %v", err)
			case tc.wantErr == "" && (len(bo) == 0 || len(mo) == 0):
				t.Fatalf("options gave %d Bitrix24 and %d Metabot client options, want the settings for both", len(bo), len(mo))
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("options = %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}
