package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/b24ops/b24-operator/hack/samples"
)

const (
	operatorNS   = "b24-operator-system"
	release      = "b24-operator"
	simNS        = "b24sim"
	samplesNS    = "team-a"
	webhookCode  = "e2ewebhook"
	metabotToken = "e2e-metabot-token"
	metabotBotID = "1234"
	simPort      = 8443
	leaseName    = "b24-operator.b24ops.io"
)

func goarch() string { return runtime.GOARCH }

// run is one e2e run: the node, the clients and the checks that passed.
type run struct {
	*node
	ctx    context.Context
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	simURL string
	simCA  []byte
	passed []string
	start  time.Time
}

func inner(c config) int {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := &node{c: c, state: filepath.Join(c.Work, "state"), logs: filepath.Join(c.Work, "logs")}
	n.pki = n.path("pki")
	r := &run{node: n, ctx: ctx, start: start}
	err := r.all()
	version := k8sVersion(r)
	n.stop()
	summary := fmt.Sprintf("%d checks passed in %s (node: kubelet %s, containerd 1.6 and runc from Debian; control plane %s)",
		len(r.passed), time.Since(start).Round(time.Second), c.NodeK8s, version)
	if err != nil {
		fmt.Printf("e2e: FAIL: %v\ne2e: %s before the failure; logs: %s\n", err, summary, n.logs)
		return 1
	}
	fmt.Printf("e2e: PASS: %s: %s\n", summary, strings.Join(r.passed, "; "))
	return 0
}

func k8sVersion(r *run) string {
	if r.kube == nil {
		return "not started"
	}
	v, err := r.kube.Discovery().ServerVersion()
	if err != nil {
		return "unknown"
	}
	return v.GitVersion
}

func (r *run) step(format string, args ...any) {
	fmt.Printf("e2e [%6s] %s\n", time.Since(r.start).Round(time.Second), fmt.Sprintf(format, args...))
}

func (r *run) pass(check string) {
	r.passed = append(r.passed, check)
	r.step("ok: %s", check)
}

func (r *run) all() error {
	if err := os.MkdirAll(r.state, 0o755); err != nil {
		return err
	}
	r.step("network namespace: bridge %s %s, services %s", bridgeName, nodeIP, serviceCIDR)
	if err := network(); err != nil {
		return err
	}
	if err := cgroups(); err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	if err := r.writePKI(); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	r.step("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
	if err := r.startControlPlane(r.ctx); err != nil {
		return err
	}
	if err := r.clients(); err != nil {
		return err
	}
	r.step("starting containerd, importing images, starting kubelet and kube-proxy")
	if err := r.startNode(r.ctx); err != nil {
		return err
	}
	if err := r.waitNodeReady(); err != nil {
		return err
	}
	r.pass("node Ready")

	for _, check := range []struct {
		name string
		f    func() error
	}{
		{"helm install (default values, pullPolicy Never) Ready", r.helmInstall},
		{"b24sim Deployment serving through its Service", r.deploySim},
		{"every sample Ready against b24sim", r.applySamples},
		{"webhook refuses an invalid object through its Service", r.webhookRefuses},
		{"2 replicas: the leader pod killed, the other took over, nothing created twice", r.leaderFailover},
		{"helm upgrade with a changed value, then helm rollback", r.upgradeRollback},
		{"helm test", r.helmTest},
		{"helm uninstall: nothing left hanging, CRDs and objects kept", r.uninstall},
	} {
		r.step("checking: %s", check.name)
		if err := check.f(); err != nil {
			return fmt.Errorf("%s: %w", check.name, err)
		}
		if err := r.alive(); err != nil {
			return err
		}
		r.pass(check.name)
	}
	return nil
}

func (r *run) clients() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", r.kubeconfig)
	if err != nil {
		return err
	}
	if r.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if r.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	r.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return nil
}

func (r *run) waitNodeReady() error {
	return poll(r.ctx, 3*time.Minute, func() error {
		if err := r.alive(); err != nil {
			return stopPolling(err)
		}
		nd, err := r.kube.CoreV1().Nodes().Get(r.ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready", nodeName)
	})
}

// helm runs the chart's helm against the node.
func (r *run) helm(args ...string) (string, error) {
	cmd := exec.CommandContext(r.ctx, r.c.Helm, args...)
	home := r.path("helm")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+r.kubeconfig, "HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (r *run) chart() string { return filepath.Join(r.c.Root, "charts", "b24-operator") }

func (r *run) helmInstall() error {
	if _, err := r.helm("install", release, r.chart(), "-n", operatorNS, "--create-namespace",
		"--set", "image.pullPolicy=Never", "--wait", "--timeout", "5m"); err != nil {
		return errors.Join(err, r.podDiagnostics(operatorNS))
	}
	return r.waitDeployment(operatorNS, release, 1)
}

// waitDeployment waits until the Deployment has rolled out want ready replicas of its
// current template.
func (r *run) waitDeployment(ns, name string, want int32) error {
	err := poll(r.ctx, 4*time.Minute, func() error {
		d, err := r.kube.AppsV1().Deployments(ns).Get(r.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.ReadyReplicas != want || s.Replicas != want {
			return fmt.Errorf("deployment %s/%s: %d/%d updated, %d ready, %d total", ns, name, s.UpdatedReplicas, want, s.ReadyReplicas, s.Replicas)
		}
		return nil
	})
	if err != nil {
		return errors.Join(err, r.podDiagnostics(ns))
	}
	return nil
}

// podDiagnostics describes the pods of a namespace for a failure message.
func (r *run) podDiagnostics(ns string) error {
	pods, err := r.kube.CoreV1().Pods(ns).List(r.ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: phase %s", p.Name, p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "; %s ready=%v restarts=%d", cs.Name, cs.Ready, cs.RestartCount)
			if w := cs.State.Waiting; w != nil {
				fmt.Fprintf(&b, " waiting %s: %s", w.Reason, w.Message)
			}
			if t := cs.LastTerminationState.Terminated; t != nil {
				fmt.Fprintf(&b, " last exit %d %s", t.ExitCode, t.Reason)
			}
		}
		b.WriteString("\n")
	}
	events, _ := r.kube.CoreV1().Events(ns).List(r.ctx, metav1.ListOptions{})
	if events != nil {
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning {
				fmt.Fprintf(&b, "event %s %s: %s\n", e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
	return errors.New(b.String())
}

// deploySim runs b24sim as a Deployment behind a Service; its certificate covers the Service
// address, and its cert directory is a hostPath so the test can read the CA it generated.
func (r *run) deploySim() error {
	if _, err := r.kube.CoreV1().Namespaces().Create(r.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: simNS}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	labels := map[string]string{"app.kubernetes.io/name": "b24sim"}
	svc, err := r.kube.CoreV1().Services(simNS).Create(r.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "b24sim"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "https", Port: simPort, TargetPort: intstr.FromInt32(simPort)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	ip := svc.Spec.ClusterIP
	r.simURL = fmt.Sprintf("https://%s:%d", ip, simPort)
	certDir := r.path("b24sim")
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		return err
	}
	if err := os.Chown(certDir, 65532, 65532); err != nil {
		return err
	}
	hostPathType := corev1.HostPathDirectory
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "b24sim"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					Containers: []corev1.Container{{
						Name: "b24sim", Image: r.image("b24sim"), ImagePullPolicy: corev1.PullNever,
						Args: []string{"--listen", fmt.Sprintf("0.0.0.0:%d", simPort), "--cert-dir", "/certs",
							"--public-url", r.simURL, "--san", ip, "--san", "b24sim." + simNS + ".svc",
							"--webhook", "1/" + webhookCode, "--metabot-bot", metabotBotID + "=" + metabotToken},
						Ports:          []corev1.ContainerPort{{ContainerPort: simPort}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(simPort)}}, PeriodSeconds: 2},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "certs", MountPath: "/certs"}},
					}},
					Volumes: []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: certDir, Type: &hostPathType}}}},
				},
			},
		},
	}
	if _, err := r.kube.AppsV1().Deployments(simNS).Create(r.ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := r.waitDeployment(simNS, "b24sim", 1); err != nil {
		return err
	}
	if r.simCA, err = os.ReadFile(filepath.Join(certDir, "ca.crt")); err != nil {
		return err
	}
	// Reached from the node through the Service (kube-proxy's rules), verifying the certificate.
	return poll(r.ctx, time.Minute, func() error { _, err := r.simState(); return err })
}

// simState is b24sim's GET /_sim/state.
func (r *run) simState() (map[string]any, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.simCA)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(r.simURL + "/_sim/state")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/_sim/state: %s: %s", resp.Status, body)
	}
	var state map[string]any
	return state, json.Unmarshal(body, &state)
}

// loadSamples reads config/samples pointed at b24sim (as hack/devenv does for `make run`).
func (r *run) loadSamples() ([]*unstructured.Unstructured, error) {
	return samples.Load(filepath.Join(r.c.Root, "config", "samples"), samples.Sim{URL: r.simURL, WebhookCode: webhookCode, MetabotToken: metabotToken, CAPEM: string(r.simCA)})
}

func (r *run) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		r.mapper.Reset()
		if m, err = r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return nil, err
		}
	}
	if u.GetNamespace() == "" && m.Scope.Name() == "namespace" {
		u.SetNamespace(samplesNS)
	}
	if m.Scope.Name() == "namespace" {
		return r.dyn.Resource(m.Resource).Namespace(u.GetNamespace()), nil
	}
	return r.dyn.Resource(m.Resource), nil
}

func (r *run) apply(u *unstructured.Unstructured) error {
	ri, err := r.resource(u)
	if err != nil {
		return err
	}
	_, err = ri.Apply(r.ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "e2e", Force: true})
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

var sampleObjs []*unstructured.Unstructured

func (r *run) applySamples() error {
	objs, err := r.loadSamples()
	if err != nil {
		return err
	}
	for _, u := range objs {
		if err := r.apply(u); err != nil {
			return err
		}
		if strings.HasPrefix(u.GetAPIVersion(), "b24ops.io/") {
			sampleObjs = append(sampleObjs, u)
		}
	}
	return r.waitReady(sampleObjs)
}

// waitReady waits until every object has Ready=True for its current generation.
func (r *run) waitReady(objs []*unstructured.Unstructured) error {
	return poll(r.ctx, 3*time.Minute, func() error {
		var notReady []string
		for _, u := range objs {
			ri, err := r.resource(u)
			if err != nil {
				return err
			}
			live, err := ri.Get(r.ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			status, reason, msg := readyOf(live)
			og, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
			if status != "True" || og != live.GetGeneration() {
				notReady = append(notReady, fmt.Sprintf("%s/%s Ready=%s %s %s", u.GetKind(), u.GetName(), status, reason, msg))
			}
		}
		if len(notReady) > 0 {
			return errors.New(strings.Join(notReady, "; "))
		}
		return nil
	})
}

func readyOf(u *unstructured.Unstructured) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			status, _ = m["status"].(string)
			reason, _ = m["reason"].(string)
			message, _ = m["message"].(string)
		}
	}
	return
}

func sampleOf(kind string) *unstructured.Unstructured {
	for _, u := range sampleObjs {
		if u.GetKind() == kind {
			return u
		}
	}
	return nil
}

// samplesOf counts the samples of a kind.
func samplesOf(kind string) int {
	n := 0
	for _, u := range sampleObjs {
		if u.GetKind() == kind {
			n++
		}
	}
	return n
}

// webhookRefuses creates a second ChatBot with the sample's CODE on the same portal: the CRD
// schema allows it, only the webhook (a cross-object rule) refuses it.
func (r *run) webhookRefuses() error {
	bot := sampleOf("ChatBot")
	if bot == nil {
		return errors.New("no ChatBot sample")
	}
	dup := bot.DeepCopy()
	dup.SetName("support-duplicate")
	dup.SetResourceVersion("")
	ri, err := r.resource(dup)
	if err != nil {
		return err
	}
	_, err = ri.Create(r.ctx, dup, metav1.CreateOptions{})
	if err == nil {
		_ = ri.Delete(r.ctx, dup.GetName(), metav1.DeleteOptions{})
		return errors.New("a second ChatBot with the same code was admitted")
	}
	if !strings.Contains(err.Error(), "admission webhook") || !strings.Contains(err.Error(), "denied") {
		return fmt.Errorf("refused, but not by the webhook: %w", err)
	}
	r.step("refused: %v", err)
	return nil
}

// remoteCounts counts what b24sim holds: bots, apps, chats and Metabot jobs.
func (r *run) remoteCounts() (map[string]int, error) {
	state, err := r.simState()
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				walk(prefix+"/"+k, x)
			}
		case []any:
			counts[prefix] = len(t)
		}
	}
	walk("", state)
	return counts, nil
}

func (r *run) leaderHolder() (string, error) {
	l, err := r.kube.CoordinationV1().Leases(operatorNS).Get(r.ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return "", errors.New("lease has no holder")
	}
	return *l.Spec.HolderIdentity, nil
}

// leaderFailover scales to 2 replicas, kills the leader's pod, waits for the other replica to
// take the lease, makes a change only a reconciling leader can finish, and compares what
// b24sim holds before and after: nothing may appear twice.
func (r *run) leaderFailover() error {
	before, err := r.remoteCounts()
	if err != nil {
		return err
	}
	if _, err := r.helm("upgrade", release, r.chart(), "-n", operatorNS, "--reuse-values", "--set", "replicas=2", "--wait", "--timeout", "5m"); err != nil {
		return err
	}
	if err := r.waitDeployment(operatorNS, release, 2); err != nil {
		return err
	}
	var holder string
	if err := poll(r.ctx, 2*time.Minute, func() error { var err error; holder, err = r.leaderHolder(); return err }); err != nil {
		return err
	}
	pods, err := r.kube.CoreV1().Pods(operatorNS).List(r.ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=manager"})
	if err != nil {
		return err
	}
	var leaderPod string
	for _, p := range pods.Items {
		if strings.HasPrefix(holder, p.Name+"_") || holder == p.Name {
			leaderPod = p.Name
		}
	}
	if leaderPod == "" {
		return fmt.Errorf("lease holder %q is none of the manager pods", holder)
	}
	r.step("leader %s; killing its pod", leaderPod)
	if err := r.kube.CoreV1().Pods(operatorNS).Delete(r.ctx, leaderPod, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		return err
	}
	if err := poll(r.ctx, 2*time.Minute, func() error {
		h, err := r.leaderHolder()
		if err != nil {
			return err
		}
		if strings.HasPrefix(h, leaderPod+"_") || h == leaderPod {
			return fmt.Errorf("lease still held by the killed pod %s", leaderPod)
		}
		holder = h
		return nil
	}); err != nil {
		return err
	}
	r.step("new leader %s", holder)
	// Only a leader reconciles: a changed Chat title Ready for its new generation proves the
	// new leader works.
	chat := sampleOf("Chat")
	if chat == nil {
		return errors.New("no Chat sample")
	}
	changed := chat.DeepCopy()
	_ = unstructured.SetNestedField(changed.Object, "Incidents (after failover)", "spec", "title")
	if err := r.apply(changed); err != nil {
		return err
	}
	if err := r.waitReady(sampleObjs); err != nil {
		return err
	}
	after, err := r.remoteCounts()
	if err != nil {
		return err
	}
	// What b24sim holds (not its call log): one of each per sample, before and after.
	held := map[string]string{"/bitrix/bots": "ChatBot", "/bitrix/apps": "ChatApp", "/bitrix/chats": "Chat", "/bitrix/commands": "BotCommand", "/metabot/jobs": ""}
	for key, kind := range held {
		if after[key] != before[key] {
			return fmt.Errorf("b24sim's %s went from %d to %d after the failover", key, before[key], after[key])
		}
		if n := samplesOf(kind); kind != "" && after[key] != n {
			return fmt.Errorf("b24sim holds %d %s for the %d %s samples", after[key], key, n, kind)
		}
	}
	r.step("b24sim holds the same objects before and after: bots %d, apps %d, chats %d, commands %d, Metabot jobs %d",
		after["/bitrix/bots"], after["/bitrix/apps"], after["/bitrix/chats"], after["/bitrix/commands"], after["/metabot/jobs"])
	return r.waitDeployment(operatorNS, release, 2)
}

func (r *run) managerEnv(name string) (string, error) {
	d, err := r.kube.AppsV1().Deployments(operatorNS).Get(r.ctx, release, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value, nil
			}
		}
	}
	return "", fmt.Errorf("no env %s", name)
}

func (r *run) upgradeRollback() error {
	if _, err := r.helm("upgrade", release, r.chart(), "-n", operatorNS, "--reuse-values", "--set", "logFormat=console", "--wait", "--timeout", "5m"); err != nil {
		return err
	}
	if v, err := r.managerEnv("LOG_FORMAT"); err != nil || v != "console" {
		return fmt.Errorf("after upgrade LOG_FORMAT=%q (%v), want console", v, err)
	}
	if err := r.waitDeployment(operatorNS, release, 2); err != nil {
		return err
	}
	out, err := r.helm("history", release, "-n", operatorNS, "-o", "json")
	if err != nil {
		return err
	}
	var hist []struct {
		Revision int `json:"revision"`
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil || len(hist) < 2 {
		return fmt.Errorf("helm history: %v: %s", err, out)
	}
	prev := fmt.Sprint(hist[len(hist)-2].Revision)
	if _, err := r.helm("rollback", release, prev, "-n", operatorNS, "--wait", "--timeout", "5m"); err != nil {
		return err
	}
	if v, err := r.managerEnv("LOG_FORMAT"); err != nil || v != "json" {
		return fmt.Errorf("after rollback LOG_FORMAT=%q (%v), want json", v, err)
	}
	if err := r.waitDeployment(operatorNS, release, 2); err != nil {
		return err
	}
	return r.waitReady(sampleObjs)
}

func (r *run) helmTest() error {
	out, err := r.helm("test", release, "-n", operatorNS, "--timeout", "3m")
	if err != nil {
		return errors.Join(err, r.podDiagnostics(operatorNS))
	}
	if !strings.Contains(out, "Succeeded") {
		return fmt.Errorf("helm test did not report a succeeded test:\n%s", out)
	}
	return nil
}

func (r *run) uninstall() error {
	if _, err := r.helm("uninstall", release, "-n", operatorNS, "--wait", "--timeout", "3m"); err != nil {
		return err
	}
	// Nothing of the release is left running or registered.
	if err := poll(r.ctx, 2*time.Minute, func() error {
		pods, err := r.kube.CoreV1().Pods(operatorNS).List(r.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d pods left in %s", len(pods.Items), operatorNS)
		}
		return nil
	}); err != nil {
		return err
	}
	vwc, err := r.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(r.ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, w := range vwc.Items {
		if strings.Contains(w.Name, "b24-operator") {
			return fmt.Errorf("ValidatingWebhookConfiguration %s left behind", w.Name)
		}
	}
	crds := r.dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	list, err := crds.List(r.ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	kept := 0
	for _, c := range list.Items {
		if strings.HasSuffix(c.GetName(), ".b24ops.io") {
			kept++
		}
	}
	if kept < 6 {
		return fmt.Errorf("%d b24ops.io CRDs kept, want 6", kept)
	}
	for _, u := range sampleObjs {
		ri, err := r.resource(u)
		if err != nil {
			return err
		}
		if _, err := ri.Get(r.ctx, u.GetName(), metav1.GetOptions{}); err != nil {
			return fmt.Errorf("%s %s after uninstall: %w", u.GetKind(), u.GetName(), err)
		}
	}
	// No webhook is left to hang admission: a new object is admitted at once.
	probe := sampleOf("Metabot").DeepCopy()
	probe.SetName("after-uninstall")
	probe.SetResourceVersion("")
	ri, err := r.resource(probe)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if _, err := ri.Create(ctx, probe, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create after uninstall: %w", err)
	}
	return nil
}
