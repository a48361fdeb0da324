package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// BenchmarkManagerCacheMemory starts the manager's cache, with its field indexes and the
// Secret and ConfigMap metadata informers the controllers watch, over 10,000 ScheduledJobs,
// 1,000 Chats and 100 ChatBots applied the way `kubectl apply` does (last-applied annotation,
// managedFields), and reports the memory once it has synced. Target: rss-MiB at most 80.
// heap-unstripped-MiB is the same cache without the transform, for comparison.
func BenchmarkManagerCacheMemory(b *testing.B) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	if err := createApplied(ctx, env.Config, 10000, 1000, 100); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	baseRSS := rssMiB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		heap, rss := cacheMemory(b, env.Config, cacheOptions(10*time.Hour, nil, nil, nil))
		b.ReportMetric(time.Since(start).Seconds(), "sync-s")
		b.ReportMetric(heap, "heap-MiB")
		b.ReportMetric(rss, "rss-MiB")
		b.ReportMetric(baseRSS, "rss-before-MiB")
		plain := cacheOptions(10*time.Hour, nil, nil, nil)
		plain.DefaultTransform = nil
		heapPlain, _ := cacheMemory(b, env.Config, plain)
		b.ReportMetric(heapPlain, "heap-unstripped-MiB")
	}
}

// cacheMemory syncs a manager cache with the given options and returns the heap in use and
// the process RSS after a full collection, in MiB; the cache is stopped before it returns.
func cacheMemory(b *testing.B, cfg *rest.Config, opts cache.Options) (heapMiB, rssMiBAfter float64) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: testenv.Scheme, Cache: opts, Client: clientOptions(),
		Metrics: metricsServerOptions("0", false), HealthProbeBindAddress: "0",
	})
	if err != nil {
		b.Fatal(err)
	}
	// The field indexes start the informers of the six kinds.
	if err := controller.Setup(mgr, controller.Options{SkipNameValidation: true}); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"Secret", "ConfigMap"} {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
		if _, err := mgr.GetCache().GetInformer(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.GetCache().Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}
	var jobs b24v1.ScheduledJobList
	if err := mgr.GetClient().List(ctx, &jobs); err != nil || len(jobs.Items) != 10000 {
		b.Fatalf("cache holds %d ScheduledJobs (%v)", len(jobs.Items), err)
	}
	jobs = b24v1.ScheduledJobList{}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMiB, rssMiBAfter = float64(ms.HeapInuse)/(1<<20), rssMiB(b)
	runtime.KeepAlive(mgr)
	cancel()
	<-done
	return heapMiB, rssMiBAfter
}

// createApplied creates the objects from the samples, spread over ten namespaces, each with a
// last-applied annotation as `kubectl apply` writes it.
func createApplied(ctx context.Context, cfg *rest.Config, jobs, chats, bots int) error {
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 5000, 10000
	c, err := client.New(fast, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		return err
	}
	const namespaces = 10
	for i := 0; i < namespaces; i++ {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%d", i)}}); err != nil {
			return err
		}
	}
	var job b24v1.ScheduledJob
	var chat b24v1.Chat
	var bot b24v1.ChatBot
	for file, into := range map[string]any{"scheduledjob": &job, "chat": &chat, "chatbot": &bot} {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "b24ops_v1alpha1_"+file+".yaml"))
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(data, into); err != nil {
			return err
		}
	}
	objs := make(chan client.Object, 256)
	go func() {
		defer close(objs)
		for i := 0; i < bots; i++ {
			o := bot.DeepCopy()
			o.Spec.Code = "bot" + strconv.Itoa(i)
			objs <- o
		}
		for i := 0; i < chats; i++ {
			objs <- chat.DeepCopy()
		}
		for i := 0; i < jobs; i++ {
			objs <- job.DeepCopy()
		}
	}()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		first   error
		counter int
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range objs {
				mu.Lock()
				n := counter
				counter++
				mu.Unlock()
				o.SetName(strings.ToLower(fmt.Sprintf("%s-%d", o.GetObjectKind().GroupVersionKind().Kind, n)))
				o.SetNamespace(fmt.Sprintf("team-%d", n%namespaces))
				applied, _ := json.Marshal(o)
				o.SetAnnotations(map[string]string{lastAppliedAnnotation: string(applied)})
				if err := c.Create(ctx, o, client.FieldOwner("kubectl-client-side-apply")); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// rssMiB is the resident set size of this process, from /proc/self/status.
func rssMiB(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
