package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/b24ops/b24-operator/internal/testenv"
)

// active counts the managers doing leader-only work at once, as a rolling upgrade sees them.
type active struct {
	now, peak atomic.Int32
}

func (a *active) Start(ctx context.Context) error {
	n := a.now.Add(1)
	for {
		p := a.peak.Load()
		if n <= p || a.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-ctx.Done()
	a.now.Add(-1)
	return nil
}

func (a *active) NeedLeaderElection() bool { return true }

// A rolling upgrade with the manager's leader election: the new pod waits while the old one
// leads, and takes over as soon as the old one stops, long before the Lease would expire
// (the old one releases it); the two are never active at once.
func TestLeaderHandoverOnShutdown(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })

	var work active
	// A Lease that outlives the test unless released: only the release can hand over in time.
	lease, renew, retry := 2*time.Minute, time.Minute, 500*time.Millisecond
	start := func() (elected <-chan struct{}, stop func()) {
		opts := ctrl.Options{Scheme: testenv.Scheme, Metrics: metricsServerOptions("0", false), HealthProbeBindAddress: "0",
			LeaseDuration: &lease, RenewDeadline: &renew, RetryPeriod: &retry}
		electionOptions(&opts, true, "default", labels.Everything())
		if !opts.LeaderElectionReleaseOnCancel {
			t.Fatal("the manager does not release its Lease when it stops")
		}
		mgr, err := ctrl.NewManager(env.Config, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Add(manager.Runnable(&work)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := mgr.Start(ctx); err != nil {
				t.Errorf("manager: %v", err)
			}
		})
		var once sync.Once
		stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
		t.Cleanup(stop)
		return mgr.Elected(), stop
	}

	oldElected, stopOld := start()
	select {
	case <-oldElected:
	case <-time.After(30 * time.Second):
		t.Fatal("the first manager was not elected")
	}
	// The new pod starts while the old one leads: it waits (work.peak would say otherwise).
	newElected, _ := start()
	stopOld()
	select {
	case <-newElected:
	case <-time.After(30 * time.Second):
		t.Fatal("the second manager did not take over within 30 s of the first stopping (the Lease lasts 2 minutes)")
	}
	if p := work.peak.Load(); p != 1 {
		t.Errorf("%d managers were active at once", p)
	}
}
