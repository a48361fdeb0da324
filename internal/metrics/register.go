package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers the cron tick counters, the drift check metrics and, when state is not
// nil, the state collector with reg (controller-runtime's metrics.Registry in the manager). Registering the same
// collectors twice is harmless.
func Register(reg prometheus.Registerer, state *StateCollector) error {
	cs := []prometheus.Collector{cronTicksTotal, driftCheckInterval, Freshness}
	if state != nil {
		cs = append(cs, state)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				continue
			}
			return err
		}
	}
	return nil
}
