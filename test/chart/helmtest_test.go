package chart

import (
	"reflect"
	"strings"
	"testing"
)

// TestRenderedHelmTestHook pins the `helm test` hook: a Pod in the manager image that checks
// the webhook through its Service, with only the CA of the certificate Secret mounted.
func TestRenderedHelmTestHook(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	hookPods := func(objs []object) []object {
		var out []object
		for _, o := range ofKind(objs, "Pod") {
			if str(o, "metadata", "annotations", "helm.sh/hook") == "test" {
				out = append(out, o)
			}
		}
		return out
	}
	cases := []struct {
		name        string
		args        []string
		wantPods    int
		service     string
		certSecret  string
		serviceLink string
	}{
		{"defaults: one test Pod for the builtin certificate", nil, 1, releaseName + "-webhook", releaseName + "-webhook-cert", "B24_OPERATOR_WEBHOOK_SERVICE_HOST"},
		{"a full name override names the Service and its link variable", []string{"--set", "fullnameOverride=ops"}, 1, "ops-webhook", "ops-webhook-cert", "OPS_WEBHOOK_SERVICE_HOST"},
		{"cert-manager certificates are checked the same way", []string{"-f", "ci/cert-manager-values.yaml"}, 1, releaseName + "-webhook", "", "B24_OPERATOR_WEBHOOK_SERVICE_HOST"},
		{"no webhook, no test Pod", []string{"--set", "webhook.enabled=false"}, 0, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			for i, a := range args {
				if strings.HasPrefix(a, "ci/") {
					args[i] = chartDir() + "/" + a
				}
			}
			objs := decode(t, render(t, helm, args...))
			pods := hookPods(objs)
			if len(pods) != tc.wantPods {
				t.Fatalf("%d test Pods, want %d", len(pods), tc.wantPods)
			}
			if tc.wantPods == 0 {
				return
			}
			pod := pods[0]
			if find(objs, "Service", tc.service) == nil {
				t.Fatalf("no Service %s to test", tc.service)
			}
			labels, _ := get(pod, "metadata", "labels").(map[string]any)
			for _, svc := range ofKind(objs, "Service") {
				sel, _ := get(svc, "spec", "selector").(map[string]any)
				if selects(sel, labels) {
					t.Errorf("Service %s selects the test Pod (labels %v)", svc.name(), labels)
				}
			}
			c := get(pod, "spec", "containers").([]any)[0]
			args2 := map[string]string{}
			for _, a := range get(c, "args").([]any) {
				k, v, _ := strings.Cut(strings.TrimPrefix(a.(string), "--"), "=")
				args2[k] = v
			}
			want := map[string]string{
				"server-name": tc.service + "." + releaseNamespace + ".svc",
				"host-env":    tc.serviceLink,
				"port":        "443",
				"ca-file":     "/etc/webhook-ca/ca.crt",
			}
			for k, v := range want {
				if args2[k] != v {
					t.Errorf("--%s=%q, want %q", k, args2[k], v)
				}
			}
			if got := get(c, "command"); !reflect.DeepEqual(got, []any{"/manager", "check-webhook"}) {
				t.Errorf("command %v, want the manager's check-webhook", got)
			}
			deps := ofKind(objs, "Deployment")
			if len(deps) != 1 {
				t.Fatalf("%d Deployments, want the manager's", len(deps))
			}
			manager := get(deps[0], "spec", "template", "spec", "containers").([]any)[0]
			if get(c, "image") != get(manager, "image") {
				t.Errorf("test image %v differs from the manager's %v", get(c, "image"), get(manager, "image"))
			}
			spec := get(pod, "spec").(map[string]any)
			if spec["automountServiceAccountToken"] != false || spec["restartPolicy"] != "Never" || spec["enableServiceLinks"] != true {
				t.Errorf("pod spec automount=%v restartPolicy=%v enableServiceLinks=%v, want false, Never, true",
					spec["automountServiceAccountToken"], spec["restartPolicy"], spec["enableServiceLinks"])
			}
			vol := get(pod, "spec", "volumes").([]any)[0]
			items := get(vol, "secret", "items").([]any)
			if len(items) != 1 || get(items[0], "key") != "ca.crt" {
				t.Errorf("secret items %v: only ca.crt may be mounted, never the serving key", items)
			}
			if tc.certSecret != "" && get(vol, "secret", "secretName") != tc.certSecret {
				t.Errorf("secret %v, want %s", get(vol, "secret", "secretName"), tc.certSecret)
			}
			if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "runAsNonRoot") != true {
				t.Errorf("test container securityContext %v is not the hardened one", get(c, "securityContext"))
			}
		})
	}
}

func selects(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
