package webhook_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
	"github.com/b24ops/b24-operator/internal/testenv"
	"github.com/b24ops/b24-operator/internal/webhook"
)

// env is the control plane every test in the package shares: envtest installs
// config/webhook/manifests.yaml (the generated ValidatingWebhookConfiguration b24-operator),
// pointed at a manager in this process that serves the webhooks with envtest's certificate.
var env *testenv.Env

// whCache is the cache the webhook reads.
var whCache client.Reader

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	log.SetLogger(logr.Discard())
	var err error
	env, err = testenv.Start(testenv.Options{WebhookInstall: &envtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "webhook")},
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wio := &env.WebhookInstallOptions
	mgr, err := newManager(crwebhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir}, "0")
	if err == nil {
		err = webhook.Setup(mgr)
		whCache = mgr.GetCache()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	if err := waitServing(net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), 30*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func newManager(opts crwebhook.Options, probeAddr string) (ctrl.Manager, error) {
	return ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: probeAddr,
		WebhookServer:          crwebhook.NewServer(opts),
	})
}

// waitServing waits until a TLS server answers on addr.
func waitServing(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a liveness probe
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server on %s: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- fixtures ---

func namespace(t *testing.T) string {
	t.Helper()
	ns, err := env.CreateNamespace(context.Background(), "wh")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// uniqueHost gives each test its own portal host, so application keys never collide across
// tests (the bot limit is counted cluster-wide).
func uniqueHost(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("p%d.bitrix24.test", time.Now().UnixNano())
}

func portal(ns, name, url, clientID string, maxBots int32) *b24v1.Portal {
	p := &b24v1.Portal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.PortalSpec{
			URL:  url,
			Auth: b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: clientID, SecretRef: b24v1.LocalObjectReference{Name: name + "-webhook"}}},
		},
	}
	if maxBots > 0 {
		p.Spec.MaxBots = &maxBots
	}
	return p
}

// bot is a V1 ChatBot (the API the one-handler-set rule is about); see botV2.
func bot(ns, name, portalName, code, handler string) *b24v1.ChatBot {
	h := b24v1.HTTPSURL(handler)
	n := "Bot " + name
	v1 := b24v1.BotAPIV1
	return &b24v1.ChatBot{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.ChatBotSpec{
			API:          &v1,
			PortalRef:    b24v1.LocalObjectReference{Name: portalName},
			Code:         code,
			EventHandler: &h,
			Properties:   b24v1.BotProperties{Name: &n},
		},
	}
}

// botV2 is a ChatBot without spec.api: V2 on a portal that has imbot.v2.
func botV2(ns, name, portalName, code, handler string) *b24v1.ChatBot {
	b := bot(ns, name, portalName, code, handler)
	b.Spec.API = nil
	return b
}

func handlers(add, welcome, del string) *b24v1.EventHandlers {
	return &b24v1.EventHandlers{MessageAdd: b24v1.HTTPSURL(add), WelcomeMessage: b24v1.HTTPSURL(welcome), BotDelete: b24v1.HTTPSURL(del)}
}

func chat(ns, name, botName string, entity *b24v1.ChatEntity) *b24v1.Chat {
	return &b24v1.Chat{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       b24v1.ChatSpec{BotRef: b24v1.LocalObjectReference{Name: botName}, Entity: entity},
	}
}

// mustCreate creates the objects. A Portal is then marked verified
// (status.verifiedApplicationKey), as the controller does once its credentials passed the
// auth check, unless it carries unverifiedLabel: only verified Portals count for the rules.
func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
		if p, ok := o.(*b24v1.Portal); ok && p.Labels[unverifiedLabel] == "" {
			p.Status.VerifiedApplicationKey = rules.ApplicationKey(p)
			if err := env.Client.Status().Update(context.Background(), p); err != nil {
				t.Fatalf("mark Portal %s/%s verified: %v", p.Namespace, p.Name, err)
			}
		}
	}
	cached(t, objs...)
}

// cached waits until the webhook's cache holds each object as the API server stores it now:
// the fixtures set up a cluster state, and admission reads it from the cache, which follows
// the API server a watch event later.
func cached(t *testing.T, objs ...client.Object) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			live := o.DeepCopyObject().(client.Object)
			if err := env.Client.Get(ctx, keyOf(o), live); err != nil {
				t.Fatalf("get %T %s: %v", o, o.GetName(), err)
			}
			seen := o.DeepCopyObject().(client.Object)
			if err := whCache.Get(ctx, keyOf(o), seen); err == nil && seen.GetResourceVersion() == live.GetResourceVersion() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the webhook's cache does not hold %T %s at resourceVersion %s", o, o.GetName(), live.GetResourceVersion())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// unverifiedLabel keeps mustCreate from marking a Portal verified.
const unverifiedLabel = "test.b24ops.io/unverified"

// unverified is a Portal whose credentials were never verified (made up).
func unverified(p *b24v1.Portal) *b24v1.Portal {
	p.Labels = map[string]string{unverifiedLabel: "true"}
	return p
}

// expect checks an admission outcome: nil want means admitted; otherwise the request must be
// refused as Invalid by the webhook with every string of want in its message, and none of
// those written "!text".
func expect(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("want admitted, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want refused with %q, got admitted", want)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid refusal, got %v", err)
	}
	msg := err.Error()
	t.Logf("refused: %s", msg)
	if !strings.Contains(msg, "admission webhook") {
		t.Fatalf("want the webhook's refusal, got %v", err)
	}
	for _, w := range want {
		if no, ok := strings.CutPrefix(w, "!"); ok {
			if strings.Contains(msg, no) {
				t.Errorf("refusal %q tells %q", msg, no)
			}
			continue
		}
		if !strings.Contains(msg, w) {
			t.Errorf("refusal %q lacks %q", msg, w)
		}
	}
}

// setStatus records a remote bot id, as the controller would.
func setBotID(t *testing.T, b *b24v1.ChatBot, id int64, app string) {
	t.Helper()
	b.Status.BotID, b.Status.ApplicationKey = id, app
	if err := env.Client.Status().Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	cached(t, b)
}

// deleteHeld deletes an object that a test finalizer keeps, so it stays "being deleted".
func deleteHeld(t *testing.T, o client.Object) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	cached(t, o)
	t.Cleanup(func() {
		ctx := context.Background()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err == nil {
			o.SetFinalizers(nil)
			_ = env.Client.Update(ctx, o)
		}
	})
}

const heldFinalizer = "test.b24ops.io/hold"

func keyOf(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }

func upper(s string) string { return strings.ToUpper(s) }

// checkDirect checks a validator's answer called without the API server.
func checkDirect(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("want admitted, got %v", err)
		}
		return
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid refusal with %q, got %v", want, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q lacks %q", err.Error(), w)
		}
	}
}
