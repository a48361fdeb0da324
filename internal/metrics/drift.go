package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Drift checks are remembered in memory only (a check that finds the remote object as
// specified writes nothing to the API server): these metrics are where their freshness shows.

var driftCheckInterval = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "b24ops_drift_check_interval_seconds",
	Help:    "Time between two successive verifications of one object's remote state by this process, by kind: how long a full drift pass takes. Above the resync interval, a portal's rate budget does not cover its drift checks and they are spread out.",
	Buckets: []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200},
}, []string{"kind"})

var oldestVerificationDesc = prometheus.NewDesc("b24ops_drift_check_oldest_age_seconds",
	"Seconds since the least recently verified object of the kind had its remote state verified by this process (objects not verified since the manager started are not counted).",
	[]string{"kind"}, nil)

// DriftChecked records one verification of an object whose previous one this process made
// since ago.
func DriftChecked(kind string, since time.Duration) {
	driftCheckInterval.WithLabelValues(kind).Observe(since.Seconds())
}

// FreshnessCollector reports, on every scrape, the age of the oldest verification of each
// kind that registered a source.
type FreshnessCollector struct {
	mu      sync.Mutex
	sources map[string]func() (time.Time, bool)
}

// Freshness is the process-wide FreshnessCollector; Register registers it.
var Freshness = &FreshnessCollector{sources: map[string]func() (time.Time, bool){}}

// Track makes oldest the source of kind's oldest verification (false: none yet). A later
// call for the same kind replaces the source (a manager started again in tests).
func (f *FreshnessCollector) Track(kind string, oldest func() (time.Time, bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sources[kind] = oldest
}

// Describe implements prometheus.Collector.
func (f *FreshnessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- oldestVerificationDesc }

// Collect implements prometheus.Collector.
func (f *FreshnessCollector) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	kinds := make([]string, 0, len(f.sources))
	for k := range f.sources {
		kinds = append(kinds, k)
	}
	sources := make(map[string]func() (time.Time, bool), len(f.sources))
	for k, s := range f.sources {
		sources[k] = s
	}
	f.mu.Unlock()
	sort.Strings(kinds)
	now := time.Now()
	for _, k := range kinds {
		if t, ok := sources[k](); ok {
			ch <- prometheus.MustNewConstMetric(oldestVerificationDesc, prometheus.GaugeValue, now.Sub(t).Seconds(), k)
		}
	}
}
