package chart

import (
	"reflect"
	"slices"
	"testing"
)

func argsOf(c map[string]any) []string {
	var out []string
	list, _ := c["args"].([]any)
	for _, a := range list {
		s, _ := a.(string)
		out = append(out, s)
	}
	return out
}

func envVar(c map[string]any, name string) map[string]any {
	list, _ := c["env"].([]any)
	for _, e := range list {
		if m := e.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// TestRenderedGOMEMLIMIT: the Go runtime's soft limit follows the container's memory limit
// through the downward API, in bytes (divisor 1: GOMEMLIMIT takes a plain number as bytes),
// and is left out when there is no limit to follow or it is turned off.
func TestRenderedGOMEMLIMIT(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	want := map[string]any{"containerName": "manager", "resource": "limits.memory", "divisor": "1"}
	cases := []struct {
		name string
		args []string
		set  bool
	}{
		{"the defaults (a 256Mi limit)", nil, true},
		{"no memory limit", []string{"--set", "resources.limits.memory=null"}, false},
		{"turned off", []string{"--set", "goMemLimitFromResources=false"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := container(t, decode(t, render(t, helm, tc.args...)))
			e := envVar(c, "GOMEMLIMIT")
			if (e != nil) != tc.set {
				t.Fatalf("GOMEMLIMIT = %v, want set=%v", e, tc.set)
			}
			if e == nil {
				return
			}
			if got := get(e, "valueFrom", "resourceFieldRef"); !reflect.DeepEqual(got, want) {
				t.Fatalf("GOMEMLIMIT from %v, want %v", got, want)
			}
			if _, ok := get(c, "resources", "limits", "memory").(string); !ok {
				t.Fatal("GOMEMLIMIT follows a limit the container does not have")
			}
		})
	}
}

// TestRenderedOutboundPolicy pins how the outbound values become manager flags (off by
// default) and how networkPolicy.egress replaces the open egress rule.
func TestRenderedOutboundPolicy(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	t.Run("defaults: caps on, policy off, egress open", func(t *testing.T) {
		objs := decode(t, render(t, helm))
		args := argsOf(container(t, objs))
		for _, a := range []string{"--max-response-size=4Mi", "--response-budget=32Mi"} {
			if !slices.Contains(args, a) {
				t.Errorf("args %v lack %s", args, a)
			}
		}
		for _, a := range args {
			if len(a) > 9 && a[:9] == "--egress-" {
				t.Errorf("the policy is off by default, got %s", a)
			}
		}
		np := find(objs, "NetworkPolicy", releaseName)
		if eg := get(np, "spec", "egress"); !reflect.DeepEqual(eg, []any{map[string]any{}}) {
			t.Errorf("egress = %v, want [{}]", eg)
		}
	})
	t.Run("a policy and egress rules", func(t *testing.T) {
		objs := decode(t, render(t, helm,
			"--set", "outbound.allowHosts={*.bitrix24.ru,portal.example.com}",
			"--set", "outbound.denyPrivate=true",
			"--set", "outbound.denyCIDRs={10.96.0.0/12}",
			"--set", "outbound.maxResponseSize=8Mi",
			"--set", "networkPolicy.egress[0].ports[0].port=443",
			"--set", "networkPolicy.egress[0].ports[0].protocol=TCP"))
		args := argsOf(container(t, objs))
		for _, a := range []string{"--max-response-size=8Mi", "--egress-allow-hosts=*.bitrix24.ru,portal.example.com",
			"--egress-deny-private", "--egress-deny-cidrs=10.96.0.0/12"} {
			if !slices.Contains(args, a) {
				t.Errorf("args %v lack %s", args, a)
			}
		}
		np := find(objs, "NetworkPolicy", releaseName)
		want := []any{map[string]any{"ports": []any{map[string]any{"port": float64(443), "protocol": "TCP"}}}}
		if eg := get(np, "spec", "egress"); !reflect.DeepEqual(eg, want) {
			t.Errorf("egress = %#v, want %#v", eg, want)
		}
	})
	t.Run("the schema refuses a URL as an allowed host", func(t *testing.T) {
		out, err := runErr(nil, helm, "template", releaseName, chartDir(), "--kube-version", kubeVersion(t),
			"--set", "outbound.allowHosts={https://portal.example.com/}")
		if err == nil {
			t.Fatalf("rendered with a URL in allowHosts:\n%.300s", out)
		}
	})
}
