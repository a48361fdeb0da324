package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestGeneratedCopiesAreCurrent: the chart renders the CRDs and the webhooks from copies of
// the generated files in config/, which `make manifests` refreshes; they must not differ.
func TestGeneratedCopiesAreCurrent(t *testing.T) {
	pairs := map[string]string{} // chart copy -> generated file
	generated, err := filepath.Glob(filepath.Join(repoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	for _, g := range generated {
		pairs[filepath.Join(chartDir(), "files", "crds", filepath.Base(g))] = g
	}
	webhooks := filepath.Join(repoRoot(), "config", "webhook", "manifests.yaml")
	if _, err := os.Stat(webhooks); err == nil {
		pairs[filepath.Join(chartDir(), "files", "webhook", "manifests.yaml")] = webhooks
	} else {
		t.Logf("config/webhook/manifests.yaml is not generated yet: the chart's copy is not compared (%v)", err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir(), "files", "crds", "*"))
	for _, c := range copies {
		if _, ok := pairs[c]; !ok {
			t.Errorf("%s has no counterpart in config/crd/bases: remove it", c)
		}
	}
	for _, c := range sortedKeys(pairs) {
		want, err := os.ReadFile(pairs[c])
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(c)
		if err != nil || !bytes.Equal(got, want) {
			rel, _ := filepath.Rel(repoRoot(), c)
			t.Errorf("%s differs from %s: run `make manifests`", rel, pairs[c])
		}
	}
}

// TestRenderedCRDs: the rendered CRDs are config/crd/bases plus the chart's labels and, with
// crds.keep, the keep policy; crds.install=false renders none.
func TestRenderedCRDs(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	generated := map[string]object{}
	files, _ := filepath.Glob(filepath.Join(repoRoot(), "config", "crd", "bases", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		if err := yaml.Unmarshal(data, &o); err != nil {
			t.Fatal(err)
		}
		generated[object(o).name()] = o
	}
	for _, keep := range []bool{true, false} {
		objs := decode(t, render(t, helm, "--set", "crds.keep="+map[bool]string{true: "true", false: "false"}[keep]))
		crds := ofKind(objs, "CustomResourceDefinition")
		if len(crds) != len(generated) {
			t.Fatalf("rendered %d CRDs, config/crd/bases has %d", len(crds), len(generated))
		}
		for _, crd := range crds {
			want, ok := generated[crd.name()]
			if !ok {
				t.Errorf("rendered CRD %s is not in config/crd/bases", crd.name())
				continue
			}
			md := get(crd, "metadata").(map[string]any)
			annotations, _ := md["annotations"].(map[string]any)
			if got := annotations["helm.sh/resource-policy"]; keep != (got == "keep") {
				t.Errorf("%s: crds.keep=%v but helm.sh/resource-policy is %v", crd.name(), keep, got)
			}
			if str(crd, "metadata", "labels", "app.kubernetes.io/managed-by") != "Helm" {
				t.Errorf("%s: no chart labels", crd.name())
			}
			// Strip what the chart adds; the rest must be the generated CRD.
			stripped := deepCopy(t, crd)
			smd := stripped["metadata"].(map[string]any)
			delete(smd, "labels")
			if a, ok := smd["annotations"].(map[string]any); ok {
				delete(a, "helm.sh/resource-policy")
			}
			if !reflect.DeepEqual(map[string]any(stripped), map[string]any(deepCopy(t, want))) {
				t.Errorf("rendered CRD %s differs from config/crd/bases beyond labels and annotations", crd.name())
			}
		}
	}
	if crds := ofKind(decode(t, render(t, helm, "--set", "crds.install=false")), "CustomResourceDefinition"); len(crds) != 0 {
		t.Errorf("crds.install=false rendered %d CRDs", len(crds))
	}
}

// deepCopy normalizes an object through JSON, so numbers compare alike.
func deepCopy(t *testing.T, o map[string]any) object {
	t.Helper()
	data, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := yaml.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func container(t *testing.T, objs []object) map[string]any {
	t.Helper()
	d := find(objs, "Deployment", releaseName)
	if d == nil {
		t.Fatal("no Deployment")
	}
	cs, _ := get(d, "spec", "template", "spec", "containers").([]any)
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0].(map[string]any)
}

func envOf(c map[string]any) map[string]string {
	out := map[string]string{}
	list, _ := c["env"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		v, _ := m["value"].(string)
		if m["valueFrom"] != nil {
			v = "<from " + str(m, "valueFrom", "fieldRef", "fieldPath") + ">"
		}
		out[m["name"].(string)] = v
	}
	return out
}

// TestRenderedManager pins how values become the manager's Deployment.
func TestRenderedManager(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	t.Run("defaults are hardened", func(t *testing.T) {
		objs := decode(t, render(t, helm))
		d := find(objs, "Deployment", releaseName)
		c := container(t, objs)
		pod := get(d, "spec", "template", "spec").(map[string]any)
		checks := map[string]any{
			"pod runAsNonRoot":                get(pod, "securityContext", "runAsNonRoot"),
			"pod seccomp":                     get(pod, "securityContext", "seccompProfile", "type"),
			"readOnlyRootFilesystem":          get(c, "securityContext", "readOnlyRootFilesystem"),
			"allowPrivilegeEscalation":        get(c, "securityContext", "allowPrivilegeEscalation"),
			"capabilities":                    get(c, "securityContext", "capabilities", "drop"),
			"container seccomp":               get(c, "securityContext", "seccompProfile", "type"),
			"automountServiceAccountToken":    pod["automountServiceAccountToken"],
			"liveness":                        get(c, "livenessProbe", "httpGet", "path"),
			"readiness":                       get(c, "readinessProbe", "httpGet", "path"),
			"requests":                        get(c, "resources", "requests") != nil,
			"limits":                          get(c, "resources", "limits") != nil,
			"ServiceAccount automount is off": get(find(objs, "ServiceAccount", releaseName), "automountServiceAccountToken"),
		}
		want := map[string]any{
			"pod runAsNonRoot": true, "pod seccomp": "RuntimeDefault", "readOnlyRootFilesystem": true,
			"allowPrivilegeEscalation": false, "capabilities": []any{"ALL"}, "container seccomp": "RuntimeDefault",
			"automountServiceAccountToken": true, "liveness": "/healthz", "readiness": "/readyz",
			"requests": true, "limits": true, "ServiceAccount automount is off": false,
		}
		for _, k := range sortedKeys(want) {
			if !reflect.DeepEqual(checks[k], want[k]) {
				t.Errorf("%s = %v, want %v", k, checks[k], want[k])
			}
		}
		mounts := map[string]string{}
		for _, m := range c["volumeMounts"].([]any) {
			mounts[str(m, "name")] = str(m, "mountPath")
		}
		if mounts["tmp"] != "/tmp" {
			t.Errorf("no writable /tmp: %v", mounts)
		}
		e := envOf(c)
		if mounts["webhook-cert"] != e["WEBHOOK_CERT_DIR"] {
			t.Errorf("the certificate Secret is mounted at %q, the manager reads %q", mounts["webhook-cert"], e["WEBHOOK_CERT_DIR"])
		}
		wantEnv := map[string]string{
			"POD_NAMESPACE": "<from metadata.namespace>", "LEADER_ELECT": "true", "LEADER_ELECTION_NAMESPACE": releaseNamespace, "WATCH_NAMESPACES": "",
			"WEBHOOK_CERT_MODE": "self", "WEBHOOK_SERVICE_NAME": "b24-operator-webhook", "WEBHOOK_CONFIG_NAME": "b24-operator",
			"WEBHOOK_CERT_SECRET_NAME": "b24-operator-webhook-cert", "ENABLE_WEBHOOKS": "true",
			"METRICS_BIND_ADDRESS": ":8080", "HEALTH_PROBE_BIND_ADDRESS": ":8081", "LOG_FORMAT": "json",
		}
		for _, k := range sortedKeys(wantEnv) {
			if e[k] != wantEnv[k] {
				t.Errorf("env %s = %q, want %q", k, e[k], wantEnv[k])
			}
		}
		if find(objs, "PodDisruptionBudget", releaseName) != nil {
			t.Error("one replica must not get a PodDisruptionBudget (it would block node drains)")
		}
		if s := find(objs, "Secret", "b24-operator-webhook-cert"); s == nil || s["data"] != nil {
			t.Errorf("builtin certificates need an empty Secret for the manager to fill, got %v", s)
		}
		for _, k := range []string{"Issuer", "Certificate", "ServiceMonitor"} {
			if len(ofKind(objs, k)) != 0 {
				t.Errorf("defaults render a %s", k)
			}
		}
	})
	t.Run("the default rollout never has two active controllers", func(t *testing.T) {
		// A rolling upgrade starts the new pod before the old one stops (maxSurge 1): only
		// leader election keeps the two from reconciling at once.
		objs := decode(t, render(t, helm))
		strategy := get(find(objs, "Deployment", releaseName), "spec", "strategy", "rollingUpdate")
		if e := envOf(container(t, objs)); get(strategy, "maxSurge") != float64(0) && e["LEADER_ELECT"] != "true" {
			t.Errorf("rolling update %v overlaps two pods without leader election: %v", strategy, e)
		}
		if find(objs, "Role", "b24-operator-leader-election") == nil || find(objs, "RoleBinding", "b24-operator-leader-election") == nil {
			t.Error("no Role and RoleBinding for the leader election Lease")
		}
	})
	t.Run("leader election off only on request, never with two replicas", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{name: "one replica, off", args: []string{"--set", "leaderElection.enabled=false"}, want: "false"},
			{name: "two replicas, off asked", args: []string{"--set", "leaderElection.enabled=false", "--set", "replicas=2"}, want: "true"},
		} {
			if got := envOf(container(t, decode(t, render(t, helm, tc.args...))))["LEADER_ELECT"]; got != tc.want {
				t.Errorf("%s: LEADER_ELECT = %q, want %q", tc.name, got, tc.want)
			}
		}
	})
	t.Run("Kubernetes client rate limits", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{name: "defaults", want: []string{"--kube-api-qps=50", "--kube-api-burst=100"}},
			{name: "set", args: []string{"--set-json", "kubeAPI.qps=7.5", "--set", "kubeAPI.burst=20"}, want: []string{"--kube-api-qps=7.5", "--kube-api-burst=20"}},
		} {
			args := get(container(t, decode(t, render(t, helm, tc.args...))), "args").([]any)
			for _, w := range tc.want {
				if !slices.Contains(args, any(w)) {
					t.Errorf("%s: args %v lack %s", tc.name, args, w)
				}
			}
		}
	})
	t.Run("a shard's label selector", func(t *testing.T) {
		e := envOf(container(t, decode(t, render(t, helm, "--set", "watchLabelSelector=b24ops.io/shard=a"))))
		if e["WATCH_LABEL_SELECTOR"] != "b24ops.io/shard=a" {
			t.Errorf("WATCH_LABEL_SELECTOR = %q", e["WATCH_LABEL_SELECTOR"])
		}
		if _, ok := envOf(container(t, decode(t, render(t, helm))))["WATCH_LABEL_SELECTOR"]; ok {
			t.Error("the default install sets a shard selector")
		}
	})
	t.Run("shards: one Deployment per shard, disjoint selectors, the webhook on the main one only", func(t *testing.T) {
		objs := decode(t, render(t, helm, "--set", "shards={a,b}", "--set", "watchLabelSelector=team=x"))
		want := map[string]struct{ selector, webhooks string }{
			releaseName:              {"team=x,!b24ops.io/shard", "true"},
			releaseName + "-shard-a": {"b24ops.io/shard=a", "false"},
			releaseName + "-shard-b": {"b24ops.io/shard=b", "false"},
		}
		if n := len(ofKind(objs, "Deployment")); n != len(want) {
			t.Fatalf("%d Deployments, want %d", n, len(want))
		}
		pods := map[string]map[string]any{}
		for name, w := range want {
			d := find(objs, "Deployment", name)
			if d == nil {
				t.Fatalf("no Deployment %s", name)
			}
			cs, _ := get(d, "spec", "template", "spec", "containers").([]any)
			e := envOf(cs[0].(map[string]any))
			if e["WATCH_LABEL_SELECTOR"] != w.selector || e["ENABLE_WEBHOOKS"] != w.webhooks || e["LEADER_ELECT"] != "true" {
				t.Errorf("%s: selector %q, webhooks %q, leader election %q; want %q, %q, on", name, e["WATCH_LABEL_SELECTOR"], e["ENABLE_WEBHOOKS"], e["LEADER_ELECT"], w.selector, w.webhooks)
			}
			sel, _ := get(d, "spec", "selector", "matchLabels").(map[string]any)
			podLabels, _ := get(d, "spec", "template", "metadata", "labels").(map[string]any)
			for k, v := range sel {
				if podLabels[k] != v {
					t.Errorf("%s: pods lack its selector label %s=%v", name, k, v)
				}
			}
			pods[name] = podLabels
		}
		// No Deployment's selector matches another's pods (they would fight over them), and
		// the webhook Service selects the main Deployment's pods only.
		for name := range want {
			sel, _ := get(find(objs, "Deployment", name), "spec", "selector", "matchLabels").(map[string]any)
			for other, labels := range pods {
				matches := true
				for k, v := range sel {
					matches = matches && labels[k] == v
				}
				if other != name && matches {
					t.Errorf("the selector of %s matches the pods of %s", name, other)
				}
			}
		}
	services:
		for _, svc := range ofKind(objs, "Service") {
			sel, _ := get(svc, "spec", "selector").(map[string]any)
			for k, v := range sel {
				if pods[releaseName+"-shard-a"][k] != v {
					continue services
				}
			}
			t.Errorf("Service %s selects shard pods", svc.name())
		}
	})
	t.Run("ha: leader election, PDB, anti-affinity, digest", func(t *testing.T) {
		objs := decode(t, render(t, helm, "-f", filepath.Join(chartDir(), "ci", "ha-values.yaml")))
		c := container(t, objs)
		if e := envOf(c); e["LEADER_ELECT"] != "true" || e["LEADER_ELECTION_NAMESPACE"] != releaseNamespace {
			t.Errorf("two replicas need leader election: %v", e)
		}
		if img := str(c, "image"); !strings.HasPrefix(img, "ghcr.io/b24ops/b24-operator@sha256:") {
			t.Errorf("image %q is not pinned by digest", img)
		}
		if find(objs, "PodDisruptionBudget", releaseName) == nil {
			t.Error("no PodDisruptionBudget")
		}
		pod := get(find(objs, "Deployment", releaseName), "spec", "template", "spec")
		if get(pod, "affinity", "podAntiAffinity") == nil || str(pod, "priorityClassName") != "system-cluster-critical" {
			t.Error("no anti-affinity or priority class")
		}
		tsc := get(pod, "topologySpreadConstraints").([]any)
		if str(tsc[0], "labelSelector", "matchLabels", "app.kubernetes.io/instance") != releaseName {
			t.Errorf("the spread constraint does not select the manager pods: %v", tsc[0])
		}
		if find(objs, "Role", "b24-operator-leader-election") == nil {
			t.Error("no Role for the leader election Lease")
		}
		if find(objs, "Issuer", "b24-operator-selfsigned") != nil {
			t.Error("a user issuerRef must not render the self-signed Issuer")
		}
		if ref := get(find(objs, "Certificate", "b24-operator-webhook"), "spec", "issuerRef", "kind"); ref != "ClusterIssuer" {
			t.Errorf("issuerRef kind = %v", ref)
		}
	})
	t.Run("certManager: Certificate into the mounted Secret, CA injected by cert-manager", func(t *testing.T) {
		objs := decode(t, render(t, helm, "-f", filepath.Join(chartDir(), "ci", "cert-manager-values.yaml")))
		cert := find(objs, "Certificate", "b24-operator-webhook")
		if cert == nil || find(objs, "Issuer", "b24-operator-selfsigned") == nil {
			t.Fatal("no Certificate and self-signed Issuer")
		}
		vwc := find(objs, "ValidatingWebhookConfiguration", "b24-operator")
		if got := str(vwc, "metadata", "annotations", "cert-manager.io/inject-ca-from"); got != releaseNamespace+"/b24-operator-webhook" {
			t.Errorf("inject-ca-from = %q", got)
		}
		d := find(objs, "Deployment", releaseName)
		var secretName string
		for _, v := range get(d, "spec", "template", "spec", "volumes").([]any) {
			if str(v, "name") == "webhook-cert" {
				secretName = str(v, "secret", "secretName")
			}
		}
		if secretName == "" || secretName != str(cert, "spec", "secretName") {
			t.Errorf("the pod mounts Secret %q, the Certificate writes %q", secretName, str(cert, "spec", "secretName"))
		}
		dns := get(cert, "spec", "dnsNames").([]any)
		if dns[0] != "b24-operator-webhook."+releaseNamespace+".svc" {
			t.Errorf("dnsNames = %v", dns)
		}
		if e := envOf(container(t, objs)); e["WEBHOOK_CERT_MODE"] != "external" {
			t.Errorf("WEBHOOK_CERT_MODE = %q", e["WEBHOOK_CERT_MODE"])
		}
		if find(objs, "Secret", "b24-operator-webhook-cert") != nil {
			t.Error("cert-manager owns the Secret; the chart must not render it")
		}
		if find(objs, "ServiceMonitor", releaseName) == nil || find(objs, "ClusterRole", "b24-operator-metrics-reader") == nil {
			t.Error("no ServiceMonitor or metrics-reader ClusterRole")
		}
	})
	t.Run("minimal: no webhook, no metrics", func(t *testing.T) {
		objs := decode(t, render(t, helm, "-f", filepath.Join(chartDir(), "ci", "minimal-values.yaml")))
		e := envOf(container(t, objs))
		if e["ENABLE_WEBHOOKS"] != "false" || e["METRICS_BIND_ADDRESS"] != "0" {
			t.Errorf("env = %v", e)
		}
		for _, k := range []string{"ValidatingWebhookConfiguration", "Service", "Secret", "CustomResourceDefinition"} {
			if n := len(ofKind(objs, k)); n != 0 {
				t.Errorf("rendered %d %s", n, k)
			}
		}
	})
}

// TestRenderedWebhooks: the webhooks are the generated ones (the chart's copy of
// config/webhook/manifests.yaml, which TestGeneratedCopiesAreCurrent keeps current), pointed at
// the release's Service, with the release's policy and no caBundle (injected at run time).
func TestRenderedWebhooks(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	data, err := os.ReadFile(filepath.Join(chartDir(), "files", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generated map[string]any
	if err := yaml.Unmarshal(data, &generated); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{}
	for _, w := range generated["webhooks"].([]any) {
		want[str(w, "name")] = w.(map[string]any)
	}
	cases := []struct {
		name      string
		args      []string
		nsValues  []any
		objectSel bool
	}{
		{name: "default"},
		{name: "namespaced", args: []string{"-f", filepath.Join(chartDir(), "ci", "namespaced-values.yaml")}, nsValues: []any{"team-a", "team-b"}},
		{name: "ha", args: []string{"-f", filepath.Join(chartDir(), "ci", "ha-values.yaml")}, objectSel: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := decode(t, render(t, helm, tc.args...))
			vwc := find(objs, "ValidatingWebhookConfiguration", "b24-operator")
			if vwc == nil {
				t.Fatal("no ValidatingWebhookConfiguration")
			}
			got := vwc["webhooks"].([]any)
			if len(got) != len(want) {
				t.Fatalf("rendered %d webhooks, config/webhook has %d", len(got), len(want))
			}
			for _, w := range got {
				name := str(w, "name")
				g, ok := want[name]
				if !ok {
					t.Errorf("webhook %s is not generated", name)
					continue
				}
				for _, field := range []string{"rules", "sideEffects", "admissionReviewVersions"} {
					if !reflect.DeepEqual(get(w, field), g[field]) {
						t.Errorf("%s: %s = %v, generated %v", name, field, get(w, field), g[field])
					}
				}
				if p := str(w, "clientConfig", "service", "path"); p != str(g, "clientConfig", "service", "path") {
					t.Errorf("%s: path %s", name, p)
				}
				if str(w, "clientConfig", "service", "name") != "b24-operator-webhook" || str(w, "clientConfig", "service", "namespace") != releaseNamespace {
					t.Errorf("%s: clientConfig %v", name, get(w, "clientConfig"))
				}
				if get(w, "clientConfig", "caBundle") != nil {
					t.Errorf("%s: a caBundle is rendered; it must be injected", name)
				}
				if str(w, "failurePolicy") != "Fail" {
					t.Errorf("%s: failurePolicy %s", name, str(w, "failurePolicy"))
				}
				var ns []any
				if exprs, ok := get(w, "namespaceSelector", "matchExpressions").([]any); ok && len(exprs) == 1 {
					ns, _ = get(exprs[0], "values").([]any)
				}
				if !reflect.DeepEqual(ns, tc.nsValues) {
					t.Errorf("%s: namespaceSelector selects %v, want %v", name, ns, tc.nsValues)
				}
				if (get(w, "objectSelector") != nil) != tc.objectSel {
					t.Errorf("%s: objectSelector %v", name, get(w, "objectSelector"))
				}
			}
		})
	}
}

// rule is one (apiGroup, resource, verb) grant, cluster-wide or in a namespace.
type rule struct{ namespace, group, resource, verb string }

func grants(objs []object, kind string, expand func(ns string) []string) map[rule]bool {
	out := map[rule]bool{}
	for _, o := range ofKind(objs, kind) {
		if isAggregated(o) {
			continue // the users' roles, not the manager's
		}
		for _, ns := range expand(o.namespace()) {
			rules, _ := o["rules"].([]any)
			for _, r := range rules {
				for _, g := range list(get(r, "apiGroups")) {
					for _, res := range list(get(r, "resources")) {
						for _, v := range list(get(r, "verbs")) {
							out[rule{ns, g, res, v}] = true
						}
					}
				}
			}
		}
	}
	return out
}

func list(v any) []string {
	var out []string
	items, _ := v.([]any)
	for _, i := range items {
		s, _ := i.(string)
		out = append(out, s)
	}
	return out
}

// TestRBACMatchesManagerRole compares the chart's RBAC with config/rbac/role.yaml, which
// controller-gen generates from the code's markers: the chart grants everything the manager
// asks for (in every watched namespace, in namespaced mode) and nothing more, save the
// documented narrowing to the release's own objects.
func TestRBACMatchesManagerRole(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "rbac", "role.yaml"))
	if os.IsNotExist(err) {
		t.Skip("config/rbac/role.yaml is not generated yet (make manifests)")
	}
	if err != nil {
		t.Fatal(err)
	}
	role := decode(t, data)
	need := grants(role, "ClusterRole", func(string) []string { return []string{""} })
	clusterScoped := map[string]bool{"validatingwebhookconfigurations": true, "namespaces": true}
	// Lease verbs are granted in the leader election namespace only, and only with leader
	// election; the certificate Secret's writes only for that Secret.
	optional := map[string]bool{"leases": true}

	for _, mode := range []struct {
		name       string
		args       []string
		namespaces []string
	}{
		{name: "cluster", args: []string{"--set", "leaderElection.enabled=true"}, namespaces: []string{""}},
		{name: "namespaced", args: []string{"-f", filepath.Join(chartDir(), "ci", "namespaced-values.yaml"), "--set", "leaderElection.enabled=true"}, namespaces: []string{"team-a", "team-b"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			objs := decode(t, render(t, helm, mode.args...))
			have := grants(objs, "ClusterRole", func(string) []string { return append([]string{""}, mode.namespaces...) })
			for r := range grants(objs, "Role", func(ns string) []string { return []string{ns} }) {
				have[r] = true
			}
			// Every grant the manager needs, where it needs it.
			var missing []string
			for r := range need {
				where := mode.namespaces
				if clusterScoped[r.resource] {
					where = []string{""}
				}
				if optional[r.resource] {
					where = []string{releaseNamespace}
				}
				for _, ns := range where {
					if !have[rule{ns, r.group, r.resource, r.verb}] {
						missing = append(missing, strings.Join([]string{ns, r.group, r.resource, r.verb}, "|"))
					}
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("the chart lacks grants the manager's generated role has (namespace|group|resource|verb):\n%s", strings.Join(missing, "\n"))
			}
			// Nothing the manager does not ask for.
			var extra []string
			for r := range have {
				if !need[rule{"", r.group, r.resource, r.verb}] {
					extra = append(extra, strings.Join([]string{r.namespace, r.group, r.resource, r.verb}, "|"))
				}
			}
			sort.Strings(extra)
			if len(extra) > 0 {
				t.Errorf("the chart grants more than the manager's generated role:\n%s", strings.Join(extra, "\n"))
			}
		})
	}
}
