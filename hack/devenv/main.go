// Command devenv is `make run`: the operator's main job on an embedded default. It starts a
// local control plane (kube-apiserver and etcd, built into bin/k8s), installs the CRDs, starts
// the Bitrix24/Metabot simulator (b24sim) and the operator against both, applies the samples
// of config/samples pointed at the simulator, waits until they are Ready, and prints their
// status. It then keeps everything running until Ctrl-C (or exits at once with
// -exit-when-ready), stopping everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/b24ops/b24-operator/hack/samples"
	"github.com/b24ops/b24-operator/internal/testenv"
)

const (
	webhookCode  = "devenvwebhook"
	metabotToken = "devenv-metabot-token"
	metabotBotID = "1234"
)

// The kinds the samples declare, in the order the table shows them, with their ID field.
var kinds = []struct{ kind, idField string }{
	{"Portal", "applicationKey"}, {"ChatBot", "botId"}, {"ChatApp", "appId"}, {"Chat", "chatId"}, {"BotCommand", "commandId"},
	{"Metabot", "endpoint"}, {"ScheduledJob", "scheduledAt"},
}

func main() {
	var (
		exitWhenReady bool
		timeout       time.Duration
		workDir       string
	)
	flag.BoolVar(&exitWhenReady, "exit-when-ready", false, "stop everything once the samples are Ready and the table is shown")
	flag.DurationVar(&timeout, "timeout", 3*time.Minute, "how long to wait for the samples to become Ready")
	flag.StringVar(&workDir, "dir", ".run", "working directory for kubeconfig, logs and simulator certificates")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, workDir, "", timeout, exitWhenReady, nil); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

// run does the work; workDir is relative to the repository unless absolute, and bin (default
// the repository's bin/) is where the operator and simulator binaries are built.
// whenReady, if set, runs against the live objects once every sample is Ready.
func run(ctx context.Context, workDir, bin string, timeout time.Duration, exitWhenReady bool,
	whenReady func(ctx context.Context, c client.Client, applied []*unstructured.Unstructured) error) error {
	root := testenv.RepoRoot()
	if !filepath.IsAbs(workDir) {
		workDir = filepath.Join(root, workDir)
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}

	step("building the operator and the simulator")
	if bin == "" {
		bin = filepath.Join(root, "bin")
	}
	for _, b := range []struct{ out, pkg string }{{"manager", "./cmd/manager"}, {"b24sim", "./cmd/b24sim"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, b.out), b.pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.pkg, err)
		}
	}

	step("starting the control plane (kube-apiserver, etcd) and installing the CRDs")
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the control plane")
		_ = env.Stop()
	}()
	kubeconfig := filepath.Join(workDir, "kubeconfig")
	if err := writeKubeconfig(env.Environment, kubeconfig); err != nil {
		return err
	}
	step("control plane up; kubeconfig: %s", kubeconfig)

	step("starting b24sim (Bitrix24 and Metabot simulator)")
	simDir := filepath.Join(workDir, "b24sim")
	readyFile := filepath.Join(simDir, "ready")
	_ = os.Remove(readyFile)
	sim, err := startProcess(ctx, filepath.Join(workDir, "b24sim.log"), filepath.Join(bin, "b24sim"),
		"--listen", "127.0.0.1:0", "--cert-dir", simDir, "--ready-file", readyFile,
		"--webhook", "1/"+webhookCode, "--metabot-bot", metabotBotID+"="+metabotToken)
	if err != nil {
		return err
	}
	defer stopProcess("b24sim", sim)
	simURL, err := waitFile(ctx, readyFile, 30*time.Second)
	if err != nil {
		return fmt.Errorf("b24sim did not start (see %s): %w", filepath.Join(workDir, "b24sim.log"), err)
	}
	caPEM, err := os.ReadFile(filepath.Join(simDir, "ca.crt"))
	if err != nil {
		return err
	}
	step("b24sim serving at %s", simURL)

	step("starting the operator (log: %s)", filepath.Join(workDir, "manager.log"))
	mgr, err := startProcess(ctx, filepath.Join(workDir, "manager.log"), filepath.Join(bin, "manager"),
		"--kubeconfig", kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--log-format", "console", "--enable-webhooks=false", "--leader-elect=false")
	if err != nil {
		return err
	}
	defer stopProcess("operator", mgr)

	step("applying config/samples, pointed at the simulator")
	objs, err := samples.Load(filepath.Join(root, "config", "samples"), samples.Sim{URL: simURL, WebhookCode: webhookCode, MetabotToken: metabotToken, CAPEM: string(caPEM)})
	if err != nil {
		return err
	}
	c := env.Client
	pristine := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		pristine[i] = o.DeepCopy() // Create overwrites o with the server's copy
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		fmt.Printf("    %s/%s created\n", strings.ToLower(o.GetKind()), o.GetName())
	}

	step("waiting for the samples to become Ready (up to %s)", timeout)
	allReady := waitReady(ctx, c, objs, timeout)
	fmt.Println()
	printTable(ctx, c, objs)
	fmt.Println()
	if !allReady {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("not every sample became Ready; see the table above and " + filepath.Join(workDir, "manager.log"))
	}
	step("every sample is Ready")
	if whenReady != nil {
		if err := whenReady(ctx, c, pristine); err != nil {
			return err
		}
	}
	if exitWhenReady {
		return nil
	}
	fmt.Printf("Everything keeps running. Try:\n  kubectl --kubeconfig %s get b24ops -A\n  curl --cacert %s %s/_sim/state\nPress Ctrl-C to stop.\n",
		kubeconfig, filepath.Join(simDir, "ca.crt"), simURL)
	<-ctx.Done()
	fmt.Println()
	return nil
}

func writeKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.AddUser(envtest.User{Name: "devenv-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	b, err := user.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func startProcess(ctx context.Context, logPath, path string, args ...string) (*exec.Cmd, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	return cmd, nil
}

func stopProcess(name string, cmd *exec.Cmd) {
	step("stopping the %s", name)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func waitFile(ctx context.Context, path string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", errors.New("timed out")
}

func isCustom(u *unstructured.Unstructured) bool {
	return strings.HasPrefix(u.GetAPIVersion(), "b24ops.io/")
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

func waitReady(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	reported := map[string]string{}
	for {
		all := true
		for _, o := range objs {
			if !isCustom(o) {
				continue
			}
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(o.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
				all = false
				continue
			}
			st, reason, _ := readyOf(live)
			key := o.GetKind() + "/" + o.GetName()
			if now := st + "/" + reason; reported[key] != now && st != "" {
				reported[key] = now
				fmt.Printf("    %-28s Ready=%s (%s)\n", key, st, reason)
			}
			if st != "True" {
				all = false
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printTable(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tREADY\tREASON\tID")
	for _, k := range kinds {
		for _, o := range objs {
			if o.GetKind() != k.kind || !isCustom(o) {
				continue
			}
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(o.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
				continue
			}
			st, reason, _ := readyOf(live)
			id, _, _ := unstructured.NestedFieldNoCopy(live.Object, "status", k.idField)
			if id == nil {
				id = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", k.kind, live.GetNamespace(), live.GetName(), st, reason, id)
		}
	}
	_ = tw.Flush()
}
