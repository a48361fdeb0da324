package controller_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

// ---- helpers for metabot_test.go and scheduledjob_test.go ----

// mbClock is the fake clock of the Metabot tests: frozen at a time the test sets, or, after
// Flow, moving with real time from there.
type mbClock struct {
	mu      sync.Mutex
	t       time.Time
	since   time.Time
	flowing bool
}

func newMBClock(t time.Time) *mbClock { return &mbClock{t: t} }

func (c *mbClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flowing {
		return c.t.Add(time.Since(c.since))
	}
	return c.t
}

// Set freezes the clock at t.
func (c *mbClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.flowing = t, false
}

// Advance moves a frozen clock forward.
func (c *mbClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Flow lets the clock run with real time from t.
func (c *mbClock) Flow(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.since, c.flowing = t, time.Now(), true
}

// mbBot adds a bot to sim and creates its token Secret, a CA ConfigMap with the simulator's
// certificate, and a Metabot for it. The Secret is left out with noSecret.
func mbBot(t testing.TB, ns, name string, sim *metabottest.Server, botID int64, noSecret bool) (*b24v1.Metabot, *corev1.Secret) {
	t.Helper()
	token := "token-" + name + "-" + uniqueToken()
	sim.AddBot(botID, token)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-token", Labels: credentialsLabels}, StringData: map[string]string{"token": token + "\n"}}
	if !noSecret {
		create(t, sec)
	}
	url := b24v1.HTTPSURL(sim.URL)
	mb := &b24v1.Metabot{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.MetabotSpec{
			URL:            &url,
			BotID:          botID,
			TokenSecretRef: b24v1.KeyReference{Name: name + "-token", Key: "token"},
			CABundle:       &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name + "-ca", Key: "ca.crt"}},
			RateLimit:      &b24v1.RateLimit{RequestsPerSecond: 1000, Burst: 1000},
		},
	}
	create(t,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}},
		mb,
	)
	return mb, sec
}

// ---- Metabot ----

func TestMetabot(t *testing.T) {
	sim := metabottest.NewServer()
	t.Cleanup(sim.Close)
	ns, _, _ := startTest(t, managerOpts{opts: controller.Options{Clock: newMBClock(time.Now())}})

	t.Run("is Ready with the job endpoint in status, without a remote call", func(t *testing.T) {
		mb, _ := mbBot(t, ns, "ready", sim, 11, false)
		waitReady(t, mb)
		want := sim.URL + "/api/v1/bots/11/jobs/schedule"
		if mb.Status.Endpoint != want {
			t.Errorf("endpoint = %q, want %q", mb.Status.Endpoint, want)
		}
		if c := condition(t, mb, b24v1.ConditionReady); !strings.Contains(c.Message, want) {
			t.Errorf("Ready message %q does not name the endpoint", c.Message)
		}
		if n := sim.Requests(); n != 0 {
			t.Errorf("%d requests to Metabot, want none", n)
		}
	})

	t.Run("waits for a missing token Secret and becomes Ready when it appears", func(t *testing.T) {
		mb, sec := mbBot(t, ns, "late-secret", sim, 12, true)
		waitReason(t, mb, metav1.ConditionFalse, b24v1.ReasonDependencyNotReady, 20*time.Second)
		create(t, sec)
		waitReady(t, mb)
	})

	cases := []struct {
		name   string
		mutate func(mb *b24v1.Metabot, sec *corev1.Secret, ca *corev1.ConfigMap)
	}{
		{"an empty token is an invalid spec", func(_ *b24v1.Metabot, sec *corev1.Secret, _ *corev1.ConfigMap) {
			sec.StringData = map[string]string{"token": "  \n"}
		}},
		{"a token Secret without the key is an invalid spec", func(mb *b24v1.Metabot, _ *corev1.Secret, _ *corev1.ConfigMap) {
			mb.Spec.TokenSecretRef.Key = "other"
		}},
		{"a CA bundle that is not PEM is an invalid spec", func(_ *b24v1.Metabot, _ *corev1.Secret, ca *corev1.ConfigMap) {
			ca.Data = map[string]string{"ca.crt": "not a certificate"}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("invalid-%d", i)
			url := b24v1.HTTPSURL(sim.URL)
			mb := &b24v1.Metabot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: b24v1.MetabotSpec{
				URL: &url, BotID: 13,
				TokenSecretRef: b24v1.KeyReference{Name: name, Key: "token"},
				CABundle:       &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: name, Key: "ca.crt"}},
			}}
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: credentialsLabels}, StringData: map[string]string{"token": "secret-token-value"}}
			ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}}
			tc.mutate(mb, sec, ca)
			create(t, sec, ca, mb)
			waitReason(t, mb, metav1.ConditionFalse, b24v1.ReasonInvalidSpec, 20*time.Second)
			if c := condition(t, mb, b24v1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("Stalled = %v, want True", c)
			}
			if c := condition(t, mb, b24v1.ConditionReady); strings.Contains(c.Message, "secret-token-value") {
				t.Errorf("the message shows the token: %q", c.Message)
			}
		})
	}

	t.Run("a rotated token is used by the next send, and the jobs that failed with the old one come back", func(t *testing.T) {
		mb, sec := mbBot(t, ns, "rotate", sim, 14, false)
		waitReady(t, mb)
		// The bot's API user gets a new token; the Secret still holds the old one.
		sim.AddBot(14, "rotated-token")
		job := mbOneShot(ns, "after-rotation", "rotate", 1401)
		create(t, job)
		waitReason(t, job, metav1.ConditionFalse, b24v1.ReasonAuthFailed, 20*time.Second)
		if n := mbJobsFor(sim, 1401); n != 0 {
			t.Fatalf("%d jobs scheduled with a refused token", n)
		}
		update(t, sec, func() { sec.StringData = map[string]string{"token": "rotated-token"} })
		waitReady(t, job)
		if n := mbJobsFor(sim, 1401); n != 1 {
			t.Fatalf("%d jobs, want 1", n)
		}
	})

	t.Run("deletion waits for the ScheduledJobs that use it", func(t *testing.T) {
		mb, _ := mbBot(t, ns, "in-use", sim, 15, false)
		job := mbOneShot(ns, "user", "in-use", 1501)
		create(t, job)
		waitReady(t, job)
		deleteObject(t, mb)
		eventually(t, 20*time.Second, "the Metabot to report what it waits for", func() (bool, string) {
			c := condition(t, mb, b24v1.ConditionReady)
			return c != nil && c.Reason == b24v1.ReasonDeleting && strings.Contains(c.Message, "user"), fmt.Sprint(c)
		})
		requests := sim.Requests()
		deleteObject(t, job)
		waitGone(t, mb)
		if sim.Requests() != requests {
			t.Errorf("deleting a ScheduledJob made %d remote calls, want none (Metabot has no cancel call)", sim.Requests()-requests)
		}
	})
}

// TestMetabotURLNamesTheAPIRoot pins how spec.url maps to the job endpoint: the documented
// path is unconfirmed, so a URL without a path gets /api/v1 and a URL with a path is the API
// root itself.
func TestMetabotURLNamesTheAPIRoot(t *testing.T) {
	sim := metabottest.NewServer()
	defer sim.Close()
	ns, _, _ := startTest(t, managerOpts{})
	cases := []struct {
		name, url, want string
	}{
		{"a bare host gets the /api/v1 prefix", sim.URL, sim.URL + "/api/v1/bots/51/jobs/schedule"},
		{"a URL with a path is the API root", sim.URL + "/api/v1/", sim.URL + "/api/v1/bots/52/jobs/schedule"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mb, _ := mbBot(t, ns, fmt.Sprintf("root-%d", i), sim, int64(51+i), false)
			update(t, mb, func() { u := b24v1.HTTPSURL(tc.url); mb.Spec.URL = &u })
			eventually(t, 30*time.Second, "status.endpoint", func() (bool, string) {
				got := reload(t, mb)
				return got.Status.Endpoint == tc.want && got.Status.ObservedGeneration == got.Generation, got.Status.Endpoint
			})
		})
	}
}
