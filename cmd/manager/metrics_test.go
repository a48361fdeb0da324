package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/b24ops/b24-operator/internal/testenv"
)

// TestSecureMetricsAuthorization pins that metrics.secure really authenticates and authorizes:
// the manager asks the API server (TokenReview, SubjectAccessReview) about every scrape.
func TestSecureMetricsAuthorization(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	addr := freeAddr(t)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsServerOptions(addr, true),
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// The role is the chart's <fullname>-metrics-reader ClusterRole.
	const ns = "monitoring"
	c := env.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	for _, name := range []string{"prometheus", "stranger"} {
		must(c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}))
	}
	must(c.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "b24-operator-metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}))
	must(c.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-b24-operator-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "b24-operator-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}},
	}))
	cs, err := kubernetes.NewForConfig(env.Config)
	must(err)
	token := func(sa string) string {
		t.Helper()
		exp := int64(600)
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		must(err)
		return tr.Status.Token
	}

	// The manager serves a self-signed certificate, as in the cluster (the ServiceMonitor
	// skips verification the same way).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(tok string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	// Wait for the server to listen.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := get(""); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("metrics server never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, tc := range []struct {
		name  string
		token string
		want  []int
	}{
		{"a scrape without a token is unauthenticated", "", []int{http.StatusUnauthorized}},
		// controller-runtime's filter answers 500 when the TokenReview rejects the token with
		// an error; either way nothing is served.
		{"a token the API server never issued is refused", "not-a-token", []int{http.StatusUnauthorized, http.StatusInternalServerError}},
		{"a valid token of an account without metrics-reader is forbidden", token("stranger"), []int{http.StatusForbidden}},
		{"a token of an account bound to metrics-reader reads the metrics", token("prometheus"), []int{http.StatusOK}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := get(tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tc.want, code) {
				t.Fatalf("status %d, want %v: %s", code, tc.want, body)
			}
			if code == http.StatusOK && !strings.Contains(body, "# HELP ") {
				t.Fatalf("200 without metrics: %.200s", body)
			}
			if code != http.StatusOK && strings.Contains(body, "# HELP ") {
				t.Fatalf("metrics served with status %d", code)
			}
		})
	}
}

// TestMetricsFilterOnlyWhenSecure pins that plain HTTP serving (metrics.secure=false, for
// clusters that guard the port with a NetworkPolicy instead) adds no authentication.
func TestMetricsFilterOnlyWhenSecure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		secure     bool
		wantFilter bool
	}{
		{"secure serving authenticates and authorizes", true, true},
		{"plain serving has no filter", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := metricsServerOptions(":8080", tc.secure)
			if got := o.FilterProvider != nil; got != tc.wantFilter || o.SecureServing != tc.secure {
				t.Fatalf("filter %v secure %v, want filter %v secure %v", got, o.SecureServing, tc.wantFilter, tc.secure)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
