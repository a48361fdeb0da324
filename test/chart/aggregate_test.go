package chart

import (
	"slices"
	"strings"
	"testing"
)

// isAggregated says whether a ClusterRole is aggregated into the built-in user-facing roles.
func isAggregated(o object) bool {
	labels, _ := get(o, "metadata", "labels").(map[string]any)
	for k := range labels {
		if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
			return true
		}
	}
	return false
}

// TestAggregatedClusterRoles pins b24ops-view and b24ops-edit: aggregated into the built-in
// view, edit and admin roles the way cert-manager ships its roles, granting the b24ops kinds
// and nothing else (no Secrets), and gone with rbac.aggregateClusterRoles=false.
func TestAggregatedClusterRoles(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	kinds := []string{"portals", "chatbots", "chatapps", "chats", "metabots", "scheduledjobs"}
	cases := []struct {
		role       string
		aggregates []string
		verbs      []string
	}{
		{"b24ops-view", []string{"view", "edit", "admin"}, []string{"get", "list", "watch"}},
		{"b24ops-edit", []string{"edit", "admin"}, []string{"create", "update", "patch", "delete", "deletecollection"}},
	}
	objs := decode(t, render(t, helm))
	for _, tc := range cases {
		t.Run(tc.role, func(t *testing.T) {
			o := find(objs, "ClusterRole", tc.role)
			if o == nil {
				t.Fatalf("no ClusterRole %s", tc.role)
			}
			for _, a := range []string{"view", "edit", "admin"} {
				got := str(o, "metadata", "labels", "rbac.authorization.k8s.io/aggregate-to-"+a) == "true"
				if want := slices.Contains(tc.aggregates, a); got != want {
					t.Errorf("aggregate-to-%s = %v, want %v", a, got, want)
				}
			}
			have := grants([]object{stripLabels(o)}, "ClusterRole", func(string) []string { return []string{""} })
			for _, k := range kinds {
				for _, v := range tc.verbs {
					if !have[rule{"", "b24ops.io", k, v}] {
						t.Errorf("%s lacks %s on %s", tc.role, v, k)
					}
				}
			}
			for r := range have {
				if r.group != "b24ops.io" {
					t.Errorf("%s grants %s on %s/%s: only the b24ops kinds belong in it", tc.role, r.verb, r.group, r.resource)
				}
				if !slices.Contains(tc.verbs, r.verb) && !(r.verb == "get" && strings.HasSuffix(r.resource, "/status")) {
					t.Errorf("%s grants %s on %s", tc.role, r.verb, r.resource)
				}
			}
		})
	}
	off := decode(t, render(t, helm, "--set", "rbac.aggregateClusterRoles=false"))
	for _, tc := range cases {
		if find(off, "ClusterRole", tc.role) != nil {
			t.Errorf("%s rendered with rbac.aggregateClusterRoles=false", tc.role)
		}
	}
}

// stripLabels is o without its labels, for grants (which skips aggregated roles).
func stripLabels(o object) object {
	c := object{}
	for k, v := range o {
		c[k] = v
	}
	c["metadata"] = map[string]any{"name": o.name()}
	return c
}
