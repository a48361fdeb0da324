// Command e2e is `make e2e`: it starts a real single-node Kubernetes on this machine, installs
// the chart with the images `make image` builds, and checks the operator end to end: the
// samples become Ready against b24sim running in the cluster, the webhook refuses an invalid
// object through its Service, a second replica takes over when the leader pod is killed with
// nothing created twice, `helm upgrade`, `helm rollback`, `helm test` and `helm uninstall`.
//
// The node is etcd, kube-apiserver, kube-controller-manager, kube-scheduler (hack/tools/envtest),
// kubelet, kube-proxy and the CNI bridge plugin (hack/tools/e2e), containerd and runc (Debian).
// Everything runs in new PID, mount and network namespaces: pods get addresses on a bridge
// inside that network namespace, no traffic leaves it, the node's iptables rules live and die
// with it, and when the test ends the kernel ends every process and mount it started. Only the
// cgroups (under /b24-e2e) and the state directory are left to remove, and the outer process
// removes them.
//
// It needs root. It prints one summary line and exits non-zero on the first failed check.
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
	"time"
)

// config is what the Makefile passes.
type config struct {
	Root      string // the repository
	Work      string // state directory (.run/e2e); logs stay in Work/logs
	Images    string // output of hack/image: <name>.tar OCI archives
	K8sBin    string // etcd, kube-apiserver, kube-controller-manager
	NodeBin   string // kubelet, kube-proxy, kube-scheduler, cni/
	Helm      string
	Version   string // image tag and chart appVersion
	Registry  string
	NodeK8s   string // kubelet version, for the summary
	Timeout   time.Duration
	inner     bool
	keepState bool
}

func main() {
	var c config
	flag.StringVar(&c.Root, "root", ".", "Repository root.")
	flag.StringVar(&c.Work, "work", ".run/e2e", "State directory.")
	flag.StringVar(&c.Images, "images", ".run/e2e/images", "Directory of the image archives (hack/image output).")
	flag.StringVar(&c.K8sBin, "k8s-bin", "bin/k8s", "Directory of etcd, kube-apiserver and kube-controller-manager.")
	flag.StringVar(&c.NodeBin, "node-bin", "", "Directory of kubelet, kube-proxy, kube-scheduler and cni/.")
	flag.StringVar(&c.Helm, "helm", "", "helm binary.")
	flag.StringVar(&c.Version, "version", "", "Tag of the images and appVersion of the chart.")
	flag.StringVar(&c.Registry, "registry", "ghcr.io/b24ops", "Registry the images are named under.")
	flag.StringVar(&c.NodeK8s, "node-version", "", "Kubernetes version of the node, for the summary.")
	flag.DurationVar(&c.Timeout, "timeout", 25*time.Minute, "Time for the whole test.")
	flag.BoolVar(&c.keepState, "keep-state", false, "Keep the state directory (containerd, kubelet, etcd) after the test.")
	flag.BoolVar(&c.inner, "inner", false, "Internal: run inside the new namespaces.")
	flag.Parse()
	for _, p := range []*string{&c.Root, &c.Work, &c.Images, &c.K8sBin, &c.NodeBin, &c.Helm} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				fatal(err)
			}
			*p = abs
		}
	}
	if c.inner && os.Getpid() == 1 && os.Getenv(childEnv) == "" {
		os.Exit(initProcess())
	}
	if c.inner {
		os.Exit(inner(c))
	}
	os.Exit(outer(c))
}

// childEnv marks the test process that the namespace's init started.
const childEnv = "B24_E2E_CHILD"

// initProcess is PID 1 of the test's PID namespace: it runs the test as its child, passes
// SIGINT and SIGTERM on, and reaps every orphan (containerd's shims are re-parented to it).
// When it exits, the kernel ends every process left in the namespace.
func initProcess() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e init:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return 1
		}
		if pid == cmd.Process.Pid {
			if ws.Exited() {
				return ws.ExitStatus()
			}
			return 1
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "e2e:", err)
	os.Exit(1)
}

// outer checks the prerequisites, runs the test in new PID, mount and network namespaces,
// and removes what the kernel does not: the cgroups and the state directory.
func outer(c config) int {
	start := time.Now()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: needs root (containerd, network namespaces, mounts, cgroups)")
		return 1
	}
	if err := preflight(c); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	_ = os.RemoveAll(filepath.Join(c.Work, "state"))
	if err := os.MkdirAll(filepath.Join(c.Work, "logs"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	shimsBefore := listDir(containerdShimDir)

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	args := append([]string{"--pid", "--fork", "--mount-proc", "--mount", "--net", "--propagation", "private", "--", self, "-inner"}, os.Args[1:]...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := exec.Command("unshare", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: unshare:", err)
		return 1
	}
	go func() {
		<-ctx.Done()
		// The inner process is PID 1 of its namespace: when it exits, the kernel ends the rest.
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}()
	runErr := cmd.Wait()

	// What outlives the namespaces: the cgroups the kubelet and runc made, the shim sockets
	// containerd 1.6 keeps under /run/containerd/s, and the state directory.
	cleanupErr := removeCgroups(cgroupRoot)
	for _, f := range listDir(containerdShimDir) {
		if !contains(shimsBefore, f) {
			_ = os.Remove(filepath.Join(containerdShimDir, f))
		}
	}
	if !c.keepState {
		if err := os.RemoveAll(filepath.Join(c.Work, "state")); err != nil {
			cleanupErr = errors.Join(cleanupErr, err)
		}
	}
	if cleanupErr != nil {
		fmt.Fprintln(os.Stderr, "e2e: cleanup:", cleanupErr)
	}
	if runErr != nil || cleanupErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL after %s (logs: %s)\n", time.Since(start).Round(time.Second), filepath.Join(c.Work, "logs"))
		return 1
	}
	fmt.Printf("e2e: cleaned up (processes, mounts, network namespace and its iptables rules, cgroups); total %s\n", time.Since(start).Round(time.Second))
	return 0
}

func preflight(c config) error {
	var missing []string
	for _, f := range []string{
		filepath.Join(c.K8sBin, "etcd"), filepath.Join(c.K8sBin, "kube-apiserver"), filepath.Join(c.K8sBin, "kube-controller-manager"),
		filepath.Join(c.NodeBin, "kube-scheduler"), filepath.Join(c.NodeBin, "kubelet"), filepath.Join(c.NodeBin, "kube-proxy"),
		filepath.Join(c.NodeBin, "cni", "bridge"), filepath.Join(c.NodeBin, "cni", "host-local"), filepath.Join(c.NodeBin, "cni", "loopback"),
		c.Helm,
	} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	for _, name := range imageNames {
		if _, err := os.Stat(filepath.Join(c.Images, name+".tar")); err != nil {
			missing = append(missing, filepath.Join(c.Images, name+".tar"))
		}
	}
	for _, tool := range []string{"unshare", "ip", "iptables", "containerd", "containerd-shim-runc-v2", "runc", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (PATH)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing (run through `make e2e`): %s", strings.Join(missing, ", "))
	}
	return nil
}

func listDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// removeCgroups removes root (e.g. /b24-e2e) and everything below it in every cgroup
// hierarchy, deepest first. The processes in them are gone with the PID namespace.
func removeCgroups(root string) error {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup") // cgroup v2: the root is the hierarchy
	var errs []error
	for _, h := range hierarchies {
		top := filepath.Join(h, root)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			var err error
			for try := 0; try < 50; try++ {
				if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
