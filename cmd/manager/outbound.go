package main

import (
	"flag"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/outbound"
)

// outboundFlags are the manager's settings for calls to the endpoints objects name.
type outboundFlags struct {
	maxResponseSize, responseBudget string
	allowHosts, denyCIDRs           string
	denyPrivate                     bool
}

func (f *outboundFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.maxResponseSize, "max-response-size", envDefault("MAX_RESPONSE_SIZE", "4Mi"),
		"Largest Bitrix24 answer read (a quantity: 4Mi); a larger one fails the call with RESPONSE_TOO_LARGE.")
	fs.StringVar(&f.responseBudget, "response-budget", envDefault("RESPONSE_BUDGET", "32Mi"),
		"Answer bytes all calls of the process may hold at once (a quantity); calls over it wait.")
	fs.StringVar(&f.allowHosts, "egress-allow-hosts", envDefault("EGRESS_ALLOW_HOSTS", ""),
		"Comma-separated host names (or *.domain) the operator may call; empty allows any.")
	fs.BoolVar(&f.denyPrivate, "egress-deny-private", envBool("EGRESS_DENY_PRIVATE", false),
		"Refuse connections to loopback, link-local, private and carrier-grade NAT addresses (checked on the address dialled).")
	fs.StringVar(&f.denyCIDRs, "egress-deny-cidrs", envDefault("EGRESS_DENY_CIDRS", ""),
		"Comma-separated extra CIDRs refused with --egress-deny-private (the cluster's pod and service ranges).")
}

// options are the client options of the settings, for every Bitrix24 and Metabot client the
// controllers build.
func (f *outboundFlags) options() ([]bitrix.Option, []metabot.Option, error) {
	maxBytes, err := quantity("--max-response-size", f.maxResponseSize, 1<<10)
	if err != nil {
		return nil, nil, err
	}
	budgetBytes, err := quantity("--response-budget", f.responseBudget, maxBytes)
	if err != nil {
		return nil, nil, err
	}
	policy := &outbound.Policy{AllowHosts: splitList(f.allowHosts), DenyPrivate: f.denyPrivate}
	for _, c := range splitList(f.denyCIDRs) {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, nil, fmt.Errorf("--egress-deny-cidrs: %q is not a CIDR", c)
		}
		policy.DenyCIDRs = append(policy.DenyCIDRs, p.Masked())
	}
	if len(policy.DenyCIDRs) > 0 && !policy.DenyPrivate {
		return nil, nil, fmt.Errorf("--egress-deny-cidrs needs --egress-deny-private")
	}
	if err := policy.Validate(); err != nil {
		return nil, nil, fmt.Errorf("--egress-allow-hosts: %w", err)
	}
	return []bitrix.Option{
			bitrix.WithMaxResponseBytes(maxBytes),
			bitrix.WithResponseBudget(outbound.NewBudget(budgetBytes)),
			bitrix.WithOutboundPolicy(policy),
		},
		[]metabot.Option{metabot.WithOutboundPolicy(policy)},
		nil
}

func quantity(flagName, v string, least int64) (int64, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a quantity such as 4Mi", flagName, v)
	}
	n, ok := q.AsInt64()
	if !ok || n < least {
		return 0, fmt.Errorf("%s: %s is less than %d bytes", flagName, v, least)
	}
	return n, nil
}
