// Command manager runs the b24-operator: the controllers for Portal, ChatBot, ChatApp, Chat,
// Metabot and ScheduledJob, and the validating webhook.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	// CA roots for real portals and Metabot endpoints in an image with no /etc/ssl: used only
	// when the system has none.
	_ "golang.org/x/crypto/x509roots/fallback"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/metabot"
	opmetrics "github.com/b24ops/b24-operator/internal/metrics"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(b24v1.AddToScheme(scheme))
}

// envDefault reads a default for a flag from the environment, so the chart can use either.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	return v == "true" || v == "1"
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == checkWebhookCommand {
		if err := checkWebhook(os.Args[2:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var (
		metricsAddr, probeAddr, namespaces, logFormat, webhookCertDir  string
		leaderElect, enableWebhooks, secureMetrics, requireSecretLabel bool
		maxConcurrent, webhookPort                                     int
		leaderElectionNamespace, webhookServiceName, webhookConfigName string
		certMode, defaultDeletionPolicy                                string
		syncPeriod, reconcileTimeout                                   time.Duration
		kubeAPIQPS                                                     float64
		kubeAPIBurst                                                   int
		watchSelector                                                  string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", envDefault("METRICS_BIND_ADDRESS", ":8080"), "Address the metrics endpoint binds to; 0 disables it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", envBool("METRICS_SECURE", false), "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", envDefault("HEALTH_PROBE_BIND_ADDRESS", ":8081"), "Address the health probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", envBool("LEADER_ELECT", true), "Leader election: only the leader reconciles and writes tokens back; a stopping leader releases the Lease at once.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", envDefault("LEADER_ELECTION_NAMESPACE", ""), "Namespace of the leader election lease (defaults to the pod's namespace).")
	flag.StringVar(&namespaces, "watch-namespaces", envDefault("WATCH_NAMESPACES", ""), "Comma-separated namespaces to watch; empty watches all.")
	flag.StringVar(&watchSelector, "watch-label-selector", envDefault("WATCH_LABEL_SELECTOR", ""), "Label selector of the b24ops.io objects this instance manages (sharding); empty manages all.")
	flag.IntVar(&maxConcurrent, "max-concurrent-reconciles", 4, "Maximum concurrent reconciles per kind.")
	flag.StringVar(&logFormat, "log-format", envDefault("LOG_FORMAT", "json"), "Log format: json or console.")
	flag.BoolVar(&enableWebhooks, "enable-webhooks", envBool("ENABLE_WEBHOOKS", true), "Serve the validating webhook (ENABLE_WEBHOOKS=false for local runs).")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "Port the webhook server listens on.")
	flag.StringVar(&webhookCertDir, "webhook-cert-dir", envDefault("WEBHOOK_CERT_DIR", "/tmp/k8s-webhook-server/serving-certs"), "Directory of the webhook serving certificate.")
	flag.StringVar(&certMode, "webhook-cert-mode", envDefault("WEBHOOK_CERT_MODE", "self"), "Webhook certificates: self (the manager provisions and rotates them) or external (cert-manager).")
	flag.StringVar(&webhookServiceName, "webhook-service-name", envDefault("WEBHOOK_SERVICE_NAME", "b24-operator-webhook"), "Service name of the webhook (for self-managed certificates).")
	flag.StringVar(&webhookConfigName, "webhook-config-name", envDefault("WEBHOOK_CONFIG_NAME", "b24-operator"), "ValidatingWebhookConfiguration to inject the CA into (self mode).")
	flag.DurationVar(&syncPeriod, "sync-period", 10*time.Hour, "Informer resync period.")
	flag.DurationVar(&reconcileTimeout, "reconcile-timeout", controller.DefaultReconcileTimeout, "Deadline of one reconcile: a portal or Metabot endpoint that does not answer holds a worker at most this long.")
	var egress outboundFlags
	egress.bind(flag.CommandLine)
	flag.Float64Var(&kubeAPIQPS, "kube-api-qps", 50, "Requests per second the manager sends to the Kubernetes API server (client-side limit).")
	flag.IntVar(&kubeAPIBurst, "kube-api-burst", 100, "Burst of requests to the Kubernetes API server above kube-api-qps.")
	flag.BoolVar(&requireSecretLabel, "require-secret-label", envBool("REQUIRE_SECRET_LABEL", true), "Read and watch only Secrets labelled b24ops.io/credentials=true; false for single-team clusters.")
	flag.StringVar(&defaultDeletionPolicy, "default-deletion-policy", envDefault("DEFAULT_DELETION_POLICY", "Delete"), "Deletion policy (Delete or Orphan) of ChatBots, ChatApps, Chats and BotCommands that set none, in namespaces without the b24ops.io/default-deletion-policy annotation.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	zapOpts.Development = logFormat == "console"
	if logFormat == "console" {
		zapOpts.TimeEncoder = zapcore.ISO8601TimeEncoder
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	policy := b24v1.DeletionPolicy(defaultDeletionPolicy)
	if policy != b24v1.DeletionPolicyDelete && policy != b24v1.DeletionPolicyOrphan {
		log.Error(fmt.Errorf("--default-deletion-policy is %q, want Delete or Orphan", defaultDeletionPolicy), "invalid flag")
		os.Exit(2)
	}

	bitrixOpts, metabotOpts, err := egress.options()
	if err != nil {
		log.Error(err, "invalid outbound settings")
		os.Exit(2)
	}
	bitrix.RegisterMetrics(metrics.Registry)
	metabot.RegisterMetrics(metrics.Registry)

	shard, err := labels.Parse(watchSelector)
	if err != nil {
		log.Error(err, "invalid --watch-label-selector")
		os.Exit(1)
	}
	cacheOpts := cacheOptions(syncPeriod, splitList(namespaces), shard, controller.CacheByObject(requireSecretLabel))

	disableHTTP2 := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	var webhookServer webhook.Server
	if enableWebhooks {
		webhookServer = webhook.NewServer(webhook.Options{Port: webhookPort, CertDir: webhookCertDir, TLSOpts: []func(*tls.Config){disableHTTP2}})
	}

	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(kubeAPIQPS), kubeAPIBurst
	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Client:                 clientOptions(),
		Metrics:                metricsServerOptions(metricsAddr, secureMetrics, disableHTTP2),
		HealthProbeBindAddress: probeAddr,
		WebhookServer:          webhookServer,
	}
	electionOptions(&mgrOpts, leaderElect, leaderElectionNamespace, shard)
	mgr, err := ctrl.NewManager(restConfig, mgrOpts)
	if err != nil {
		log.Error(err, "unable to create manager")
		os.Exit(1)
	}

	// Object state is read from the manager's cache on each scrape, by the leader only.
	if err := opmetrics.Register(metrics.Registry, opmetrics.NewStateCollector(mgr.GetCache(), mgr.Elected())); err != nil {
		log.Error(err, "unable to register metrics")
		os.Exit(1)
	}
	if err := controller.Setup(mgr, controller.Options{MaxConcurrentReconciles: maxConcurrent, ReconcileTimeout: reconcileTimeout, AllowUnlabelledSecrets: !requireSecretLabel, DefaultDeletionPolicy: policy,
		BitrixOptions: bitrixOpts, MetabotOptions: metabotOpts}); err != nil {
		log.Error(err, "unable to set up controllers")
		os.Exit(1)
	}
	if enableWebhooks {
		if err := setupWebhooks(mgr, webhookSettings{
			certMode: certMode, certDir: webhookCertDir, serviceName: webhookServiceName,
			configName: webhookConfigName, namespace: envDefault("POD_NAMESPACE", "b24-operator-system"),
			shard: shard, cache: cacheOpts,
		}); err != nil {
			log.Error(err, "unable to set up webhooks")
			os.Exit(1)
		}
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	ready := healthz.Ping
	if enableWebhooks {
		ready = mgr.GetWebhookServer().StartedChecker()
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		log.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	log.Info("starting manager", "namespaces", namespaces, "shard", watchSelector, "webhooks", enableWebhooks, "leaderElection", leaderElect)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager exited")
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
