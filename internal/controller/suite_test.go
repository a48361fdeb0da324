package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// env is one real control plane (kube-apiserver, etcd, and kube-controller-manager for
// namespace deletion) shared by the package's tests; each test uses its own namespace.
var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(testenv.Options{ControllerManager: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// logBuffer collects a manager's log lines, to prove no secret is ever logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type managerOpts struct {
	opts      controller.Options
	newClient func(c client.Client) client.Client
	logs      *logBuffer
	// shard, when set, limits the manager to the b24ops.io objects it selects, as
	// --watch-label-selector does.
	shard labels.Selector
}

// startManager runs the operator's controllers against the shared API server until the test
// ends (or stop is called). Secrets and ConfigMaps are read live, as in production. The end of
// the manager's log is shown if the test fails.
func startManager(t *testing.T, mo managerOpts) (shared *controller.Shared, stop func()) {
	t.Helper()
	dumpLogOnFailure(t, &mo)
	opts := managerOptions(zap.New(zap.WriteTo(mo.logs), zap.UseDevMode(true), zap.Level(zapLevelDebug())))
	if mo.newClient != nil {
		opts.NewClient = func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return mo.newClient(c), nil
		}
	}
	opts.Cache.ByObject = controller.CacheByObject(!mo.opts.AllowUnlabelledSecrets)
	if mo.shard != nil {
		for _, k := range controller.Kinds() {
			opts.Cache.ByObject[k.Object] = cache.ByObject{Label: mo.shard}
		}
	}
	mgr, err := ctrl.NewManager(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	o := mo.opts
	o.SkipNameValidation = true
	if o.BaseBackoff == 0 {
		o.BaseBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 2 * time.Second
	}
	shared, err = controller.SetupWithShared(mgr, o)
	if err != nil {
		t.Fatal(err)
	}
	stop = runManager(t, mgr)
	t.Cleanup(stop)
	return shared, stop
}

// benchManager runs the controllers with the production defaults (a real clock) and no log
// output until stopped.
func benchManager(b *testing.B) (stop func()) { return benchManagerWith(b, nil) }

// benchManagerWith is benchManager whose API client newClient wraps (nil: none).
func benchManagerWith(b *testing.B, newClient func(client.Client) client.Client) (stop func()) {
	// The API client logs through the global logger; keep it quiet (and without the notice
	// that it was never set).
	ctrl.SetLogger(logr.Discard())
	opts := managerOptions(logr.Discard())
	if newClient != nil {
		opts.NewClient = func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return newClient(c), nil
		}
	}
	mgr, err := ctrl.NewManager(env.Config, opts)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := controller.SetupWithShared(mgr, controller.Options{SkipNameValidation: true}); err != nil {
		b.Fatal(err)
	}
	return runManager(b, mgr)
}

// managerOptions are the manager options of the tests and benchmarks: the shared API server,
// no metrics or health endpoints, Secrets and ConfigMaps read live.
func managerOptions(logger logr.Logger) manager.Options {
	return manager.Options{
		Scheme:  testenv.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:  logger,
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: controller.CacheByObject(true)},
	}
}

// credentialsLabels mark a Secret the operator may read.
var credentialsLabels = map[string]string{refs.CredentialsLabel: refs.CredentialsLabelValue}

// runManager starts mgr and returns a stop that cancels it and waits until it ended (safe to
// call more than once).
func runManager(tb testing.TB, mgr manager.Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			tb.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// dumpLogOnFailure makes sure the manager's log is captured and shows its end when t fails
// (or always, with B24_TEST_LOG=1).
func dumpLogOnFailure(t testing.TB, mo *managerOpts) {
	if mo.logs == nil {
		mo.logs = &logBuffer{}
	}
	logs := mo.logs
	t.Cleanup(func() {
		if !t.Failed() && os.Getenv("B24_TEST_LOG") == "" {
			return
		}
		lines := strings.Split(logs.String(), "\n")
		t.Logf("manager log (last %d lines):\n%s", min(300, len(lines)), strings.Join(lines[max(0, len(lines)-300):], "\n"))
	})
}

// namespace makes a fresh namespace named after the (sub)test, whose name may hold characters
// a namespace cannot.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	name = strings.Trim(name[:min(40, len(name))], "-")
	ns, err := env.CreateNamespace(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func create(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// webhookPortal creates a Secret with the simulator's webhook, a CA ConfigMap, and a Portal.
func webhookPortal(t testing.TB, ns, name, clientID string, sim *bitrixtest.Server, mutate ...func(*b24v1.Portal)) *b24v1.Portal {
	t.Helper()
	return portalWithHook(t, ns, name, clientID, sim.AddWebhook(1, "code"+name), sim, mutate...)
}

// portalWithHook is a webhook Portal on the simulator whose Secret holds the webhook URL hook.
func portalWithHook(t testing.TB, ns, name, clientID, hook string, sim *bitrixtest.Server, mutate ...func(*b24v1.Portal)) *b24v1.Portal {
	t.Helper()
	create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-webhook", Labels: credentialsLabels}, StringData: map[string]string{"webhookURL": hook}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}},
	)
	p := &b24v1.Portal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.PortalSpec{
			URL:      sim.URL,
			Auth:     b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: clientID, SecretRef: b24v1.LocalObjectReference{Name: name + "-webhook"}}},
			CABundle: &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name + "-ca", Key: "ca.crt"}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	create(t, p)
	return p
}

func ptr[T any](v T) *T { return &v }

// chatBot is a V1 ChatBot (spec.api V1); chatBotV2 leaves the API to the portal.
func chatBot(ns, name, portal, code string) *b24v1.ChatBot {
	return &b24v1.ChatBot{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.ChatBotSpec{
			API:          ptr(b24v1.BotAPIV1),
			PortalRef:    b24v1.LocalObjectReference{Name: portal},
			Code:         code,
			EventHandler: ptr(b24v1.HTTPSURL("https://bots.example.com/events")),
			Properties:   b24v1.BotProperties{Name: ptr("Bot " + name)},
		},
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %s", what, last)
}

// condition reads an object's condition.
func condition(t *testing.T, obj controllerObject, typ string) *metav1.Condition {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		return nil
	}
	return meta.FindStatusCondition(obj.CommonStatus().Conditions, typ)
}

type controllerObject interface {
	client.Object
	CommonStatus() *b24v1.CommonStatus
}

// waitReason waits until Ready has the reason (and status) for the object's current generation.
func waitReason(t *testing.T, obj controllerObject, status metav1.ConditionStatus, reason string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%T %s Ready=%s/%s", obj, obj.GetName(), status, reason), func() (bool, string) {
		c := condition(t, obj, b24v1.ConditionReady)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == status && c.Reason == reason && c.ObservedGeneration == obj.GetGeneration(), c.Reason + ": " + c.Message
	})
}

func waitReady(t *testing.T, obj controllerObject) {
	t.Helper()
	waitReason(t, obj, metav1.ConditionTrue, b24v1.ReasonSucceeded, 30*time.Second)
}

func zapLevelDebug() zapcore.Level { return -2 }
