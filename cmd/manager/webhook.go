package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	b24webhook "github.com/b24ops/b24-operator/internal/webhook"
)

type webhookSettings struct {
	certMode, certDir, serviceName, configName, namespace string
	// shard is the manager's --watch-label-selector; with one, admission reads from a cache
	// of its own (see webhookCache).
	shard labels.Selector
	// cache are the manager's cache options (namespaces, transform, resync).
	cache cache.Options
}

// setupWebhooks registers the validating webhook and its certificate management. It is called
// only when webhooks are enabled (ENABLE_WEBHOOKS=false skips it entirely).
func setupWebhooks(mgr ctrl.Manager, s webhookSettings) error {
	if err := b24webhook.SetupCertificates(mgr, b24webhook.CertOptions{
		Mode:        s.certMode,
		CertDir:     s.certDir,
		Namespace:   s.namespace,
		ServiceName: s.serviceName,
		ConfigName:  s.configName,
		// The chart names the Secret after the release; main.go has no flag for it.
		SecretName: envDefault("WEBHOOK_CERT_SECRET_NAME", b24webhook.DefaultCertSecretName),
	}); err != nil {
		return fmt.Errorf("webhook certificates: %w", err)
	}
	if s.shard == nil || s.shard.Empty() {
		// The manager caches every Portal, ChatBot and Chat anyway: admission shares it.
		return b24webhook.Setup(mgr)
	}
	c, err := webhookCache(mgr, s.cache)
	if err != nil {
		return err
	}
	return b24webhook.SetupWithCache(mgr, c)
}

// webhookCache is the cache admission reads in a sharded manager: the rules span every shard
// (the bot limit of an application, codes on a portal, chat entities), and the manager's own
// cache holds only its shard. It holds Portals, ChatBots and Chats only, stripped like the
// manager's, and starts and syncs with the manager.
func webhookCache(mgr ctrl.Manager, opts cache.Options) (cache.Cache, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		SyncPeriod: opts.SyncPeriod, DefaultNamespaces: opts.DefaultNamespaces, DefaultTransform: opts.DefaultTransform,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("webhook cache: %w", err)
	}
	return c, nil
}
