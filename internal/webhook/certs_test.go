package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/b24ops/b24-operator/internal/webhook"
)

// rotatorRuns numbers the rotation controllers: controller names are unique per process.
var rotatorRuns atomic.Int32

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// kubelet plays the kubelet's part for a Secret volume: it copies the Secret's keys into dir
// whenever the Secret changes, replacing each file atomically.
func kubelet(ctx context.Context, key types.NamespacedName, dir string) {
	var seen string
	for ctx.Err() == nil {
		var s corev1.Secret
		if err := env.Client.Get(ctx, key, &s); err == nil && s.ResourceVersion != seen && len(s.Data["tls.crt"]) > 0 {
			for k, v := range s.Data {
				tmp := filepath.Join(dir, "."+k+".tmp")
				if os.WriteFile(tmp, v, 0o600) == nil {
					_ = os.Rename(tmp, filepath.Join(dir, k))
				}
			}
			seen = s.ResourceVersion
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The self-signed path as in a cluster: the rotator creates the CA and serving certificate in
// the Secret, "the kubelet" mounts it, the CA is injected into the ValidatingWebhookConfiguration
// and the API server admits through the webhook. A restart with the Secret deleted rotates
// everything and keeps admitting.
func TestSelfManagedCertificates(t *testing.T) {
	ctx := context.Background()
	const (
		operatorNS = "b24-operator-system"
		configName = "b24-operator-selfsigned-test"
		label      = "b24ops.io/webhook-test"
	)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	secretKey := types.NamespacedName{Namespace: operatorNS, Name: webhook.DefaultCertSecretName}

	// A configuration like the chart's, without a caBundle: only the rotator can make the API
	// server trust the webhook. Its objectSelector keeps it away from the other tests.
	port := freePort(t)
	url := fmt.Sprintf("https://localhost:%d/validate-b24ops-io-v1alpha1-scheduledjob", port)
	fail, none := admissionv1.Fail, admissionv1.SideEffectClassNone
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: configName},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name:         "vscheduledjob.selfsigned.b24ops.io",
			ClientConfig: admissionv1.WebhookClientConfig{URL: &url},
			Rules: []admissionv1.RuleWithOperations{{
				Operations: []admissionv1.OperationType{admissionv1.Create},
				Rule:       admissionv1.Rule{APIGroups: []string{"b24ops.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"scheduledjobs"}},
			}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{label: "selfsigned"}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr(int32(5)),
		}},
	}
	mustCreate(t, vwc)
	t.Cleanup(func() { _ = env.Client.Delete(ctx, vwc) })

	certDir := t.TempDir()
	jobs := namespace(t)
	created := 0
	createJob := func(schedule string) error {
		created++
		job := cronJob(jobs, fmt.Sprintf("job-%d", created), schedule, nil)
		job.Labels = map[string]string{label: "selfsigned"}
		return env.Client.Create(ctx, job)
	}
	caBundle := func() []byte {
		var got admissionv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(ctx, types.NamespacedName{Name: configName}, &got); err != nil {
			t.Fatal(err)
		}
		return got.Webhooks[0].ClientConfig.CABundle
	}

	// start runs the operator's webhook the way main.go does in self mode.
	start := func(run int) (stop func()) {
		probe := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		mgr, err := newManager(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir}, probe)
		if err != nil {
			t.Fatal(err)
		}
		if err := webhook.SetupCertificates(mgr, webhook.CertOptions{
			Mode: webhook.CertModeSelf, Namespace: operatorNS, ServiceName: "b24-operator-webhook", ConfigName: configName,
			DNSName:        "localhost",                                                // the test's URL; in a cluster <service>.<namespace>.svc
			ControllerName: fmt.Sprintf("webhook-cert-rotator-%d", rotatorRuns.Add(1)), // unique in the process
		}); err != nil {
			t.Fatal(err)
		}
		if err := webhook.Setup(mgr); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go kubelet(runCtx, secretKey, certDir)
		go func() {
			defer close(done)
			if err := mgr.Start(runCtx); err != nil {
				t.Errorf("manager run %d: %v", run, err)
			}
		}()
		stop = func() { cancel(); <-done }
		t.Cleanup(stop)
		waitFor(t, 30*time.Second, "the readiness check", func() error {
			resp, err := http.Get("http://" + probe + "/readyz")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("readyz: %s", resp.Status)
			}
			return nil
		})
		return stop
	}
	admits := func() {
		t.Helper()
		// The API server picks up a new caBundle shortly after it is written.
		waitFor(t, 20*time.Second, "admission through the self-signed webhook", func() error { return createJob("0 9 * * 1") })
		expect(t, createJob("0 25 * * 1"), []string{"spec.schedule"})
	}

	stop := start(1)
	first := caBundle()
	if len(first) == 0 {
		t.Fatal("no caBundle injected")
	}
	admits()

	// While the webhook is down the configuration still applies (failurePolicy Fail): proof
	// that the admissions above went through it.
	stop()
	waitFor(t, 20*time.Second, "refusals while the webhook is down", func() error {
		if err := createJob("0 9 * * 1"); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
			return fmt.Errorf("want a failed webhook call, got %v", err)
		}
		return nil
	})

	// Rotate: the Secret is gone, the next start makes a new CA and certificate.
	if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretKey.Namespace, Name: secretKey.Name}}); err != nil {
		t.Fatal(err)
	}
	start(2)
	if second := caBundle(); len(second) == 0 || bytes.Equal(first, second) {
		t.Fatal("the caBundle was not rotated")
	}
	admits()
}

func waitFor(t *testing.T, timeout time.Duration, what string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
