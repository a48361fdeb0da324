// Package metrics holds the operator's own Prometheus metrics that are not about one remote
// API: the state of every object, read from the manager's cache on each scrape (the way
// kube-state-metrics does), the bot quota of each application, and the cron tick counters.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Label values of the object gauges are bounded: the kind is one of Kinds, ready is True,
// False or Unknown, and a reason outside the API's documented set is reported as Other.
const (
	reasonNone  = "None"  // no Ready condition yet (never reconciled)
	reasonOther = "Other" // a reason this version does not know
)

var knownReasons = map[string]bool{
	b24v1.ReasonSucceeded: true, b24v1.ReasonProgressing: true, b24v1.ReasonDependencyNotReady: true,
	b24v1.ReasonInvalidSpec: true, b24v1.ReasonAuthFailed: true, b24v1.ReasonMissingScope: true,
	b24v1.ReasonInstallNotFinished: true, b24v1.ReasonBotLimitExceeded: true, b24v1.ReasonCodeTaken: true,
	b24v1.ReasonRateLimited: true, b24v1.ReasonRemoteError: true, b24v1.ReasonOutcomeUnknown: true,
	b24v1.ReasonDeleting: true, b24v1.ReasonSuspended: true, b24v1.ReasonPortalUnreachable: true,
}

// Kind is one kind the state collector lists.
type Kind struct {
	Name    string
	NewList func() client.ObjectList
}

// Kinds are the kinds whose objects the state collector counts. A new kind is one more line.
var Kinds = []Kind{
	{"Portal", func() client.ObjectList { return &b24v1.PortalList{} }},
	{"ChatBot", func() client.ObjectList { return &b24v1.ChatBotList{} }},
	{"ChatApp", func() client.ObjectList { return &b24v1.ChatAppList{} }},
	{"Chat", func() client.ObjectList { return &b24v1.ChatList{} }},
	{"Metabot", func() client.ObjectList { return &b24v1.MetabotList{} }},
	{"ScheduledJob", func() client.ObjectList { return &b24v1.ScheduledJobList{} }},
}

var (
	objectsDesc = prometheus.NewDesc("b24ops_objects",
		"Objects by kind, namespace, Ready status (True, False, Unknown) and Ready reason.",
		[]string{"kind", "namespace", "ready", "reason"}, nil)
	notReadySinceDesc = prometheus.NewDesc("b24ops_objects_not_ready_since_timestamp_seconds",
		"Oldest lastTransitionTime of a Ready condition that is not True, by kind, namespace and reason (Unix seconds): time() minus it is how long the oldest of them has not been Ready.",
		[]string{"kind", "namespace", "reason"}, nil)
	appBotsDesc = prometheus.NewDesc("b24ops_application_bots",
		"ChatBots registered in a Bitrix24 application (host/client id), across namespaces and Portals.",
		[]string{"application"}, nil)
	appMaxBotsDesc = prometheus.NewDesc("b24ops_application_max_bots",
		"The smallest maxBots of the Portals of a Bitrix24 application (host/client id).",
		[]string{"application"}, nil)
	listErrorsDesc = prometheus.NewDesc("b24ops_state_list_errors",
		"1 when the last scrape could not read a kind from the cache (its state series are missing), else 0.",
		[]string{"kind"}, nil)
)

// gaugeNames lists the series StateCollector emits; they are all gauges (docs test).
var gaugeNames = []string{
	"b24ops_objects", "b24ops_objects_not_ready_since_timestamp_seconds",
	"b24ops_application_bots", "b24ops_application_max_bots", "b24ops_state_list_errors",
}

// StateCollector reports object state from the manager's cache on every scrape. Only the
// leader reports (elected is closed once it leads, at once without leader election), so
// replicas never double the counts.
type StateCollector struct {
	reader  client.Reader
	elected <-chan struct{}
	timeout time.Duration
}

// NewStateCollector reads through reader (the manager's cache) once elected is closed.
func NewStateCollector(reader client.Reader, elected <-chan struct{}) *StateCollector {
	return &StateCollector{reader: reader, elected: elected, timeout: 5 * time.Second}
}

// Describe implements prometheus.Collector.
func (s *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{objectsDesc, notReadySinceDesc, appBotsDesc, appMaxBotsDesc, listErrorsDesc} {
		ch <- d
	}
}

type stateKey struct{ kind, namespace, ready, reason string }

type sinceKey struct{ kind, namespace, reason string }

// Collect implements prometheus.Collector.
func (s *StateCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-s.elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()

	counts := map[stateKey]int{}
	since := map[sinceKey]time.Time{}
	bots := map[string]int{}
	maxBots := map[string]int32{}
	for _, k := range Kinds {
		list := k.NewList()
		var objs []runtimeObject
		err := s.reader.List(ctx, list)
		if err == nil {
			objs, err = extract(list)
		}
		failed := 0.0
		if err != nil {
			failed = 1
			logf.Log.WithName("metrics").Error(err, "state metrics: cannot list from the cache", "kind", k.Name)
		}
		ch <- prometheus.MustNewConstMetric(listErrorsDesc, prometheus.GaugeValue, failed, k.Name)
		for _, o := range objs {
			ready, reason, changed := readyOf(o.CommonStatus().Conditions)
			counts[stateKey{k.Name, o.GetNamespace(), ready, reason}]++
			if ready != string(metav1.ConditionTrue) && !changed.IsZero() {
				sk := sinceKey{k.Name, o.GetNamespace(), reason}
				if t, ok := since[sk]; !ok || changed.Before(t) {
					since[sk] = changed
				}
			}
			switch o := o.(type) {
			case *b24v1.ChatBot:
				if o.Status.ApplicationKey != "" && o.Status.BotID != 0 {
					bots[o.Status.ApplicationKey]++
				}
			case *b24v1.Portal:
				if app := o.Status.ApplicationKey; app != "" {
					m := int32(5)
					if o.Spec.MaxBots != nil {
						m = *o.Spec.MaxBots
					}
					if cur, ok := maxBots[app]; !ok || m < cur {
						maxBots[app] = m
					}
					if _, ok := bots[app]; !ok {
						bots[app] = 0
					}
				}
			}
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(n), k.kind, k.namespace, k.ready, k.reason)
	}
	for k, t := range since {
		ch <- prometheus.MustNewConstMetric(notReadySinceDesc, prometheus.GaugeValue, float64(t.Unix()), k.kind, k.namespace, k.reason)
	}
	for app, n := range bots {
		ch <- prometheus.MustNewConstMetric(appBotsDesc, prometheus.GaugeValue, float64(n), app)
	}
	for app, m := range maxBots {
		ch <- prometheus.MustNewConstMetric(appMaxBotsDesc, prometheus.GaugeValue, float64(m), app)
	}
}

type runtimeObject interface {
	client.Object
	CommonStatus() *b24v1.CommonStatus
}

func extract(list client.ObjectList) ([]runtimeObject, error) {
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]runtimeObject, 0, len(objs))
	for _, o := range objs {
		if ro, ok := o.(runtimeObject); ok {
			out = append(out, ro)
		}
	}
	return out, nil
}

// readyOf returns the Ready status, its bounded reason and when it last changed.
func readyOf(conds []metav1.Condition) (status, reason string, changed time.Time) {
	c := meta.FindStatusCondition(conds, b24v1.ConditionReady)
	if c == nil {
		return string(metav1.ConditionUnknown), reasonNone, time.Time{}
	}
	reason = c.Reason
	if !knownReasons[reason] {
		reason = reasonOther
	}
	status = string(c.Status)
	switch c.Status {
	case metav1.ConditionTrue, metav1.ConditionFalse:
	default:
		status = string(metav1.ConditionUnknown)
	}
	return status, reason, c.LastTransitionTime.Time
}
