package main

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	b24webhook "github.com/b24ops/b24-operator/internal/webhook"
)

type webhookSettings struct {
	certMode, certDir, serviceName, configName, namespace string
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
	return b24webhook.Setup(mgr)
}
