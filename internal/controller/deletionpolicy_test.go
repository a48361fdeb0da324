package controller_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
)

// TestDefaultDeletionPolicy pins the precedence object > namespace annotation > manager flag
// against the simulator: the policy in effect is shown in status and decides whether deleting
// the ChatBot unregisters the bot.
func TestDefaultDeletionPolicy(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	run := subtests(t, managerOpts{opts: controller.Options{DefaultDeletionPolicy: b24v1.DeletionPolicyOrphan}})

	for _, tc := range []struct {
		name         string
		nsAnnotation string
		own          *b24v1.DeletionPolicy
		want         b24v1.DeletionPolicy
	}{
		{name: "the manager's default Orphan keeps the bot", want: b24v1.DeletionPolicyOrphan},
		{name: "the namespace annotation Delete wins over the manager's default", nsAnnotation: "Delete", want: b24v1.DeletionPolicyDelete},
		{name: "the object's own Orphan wins over the namespace", nsAnnotation: "Delete", own: ptr(b24v1.DeletionPolicyOrphan), want: b24v1.DeletionPolicyOrphan},
	} {
		run(tc.name, func(t *testing.T, ns string) {
			if tc.nsAnnotation != "" {
				n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
				annotate(t, n, b24v1.DefaultDeletionPolicyAnnotation, tc.nsAnnotation)
			}
			code := "policy-" + ns[len(ns)-8:]
			webhookPortal(t, ns, "acme", "policy-"+ns, sim)
			bot := chatBot(ns, "support", "acme", code)
			bot.Spec.DeletionPolicy = tc.own
			create(t, bot)
			waitReady(t, bot)
			if bot.Status.DeletionPolicy != tc.want {
				t.Fatalf("status.deletionPolicy %q, want %q", bot.Status.DeletionPolicy, tc.want)
			}
			if tc.nsAnnotation == "" {
				// A later annotation on the namespace shows in status without a change to the bot.
				annotate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, b24v1.DefaultDeletionPolicyAnnotation, "Delete")
				eventually(t, 30*time.Second, "status.deletionPolicy Delete", func() (bool, string) {
					r := reload(t, bot)
					return r.Status.DeletionPolicy == b24v1.DeletionPolicyDelete, string(r.Status.DeletionPolicy)
				})
				annotate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, b24v1.DefaultDeletionPolicyAnnotation, "Orphan")
				eventually(t, 30*time.Second, "status.deletionPolicy Orphan", func() (bool, string) {
					r := reload(t, bot)
					return r.Status.DeletionPolicy == b24v1.DeletionPolicyOrphan, string(r.Status.DeletionPolicy)
				})
			}
			deleteObject(t, bot)
			waitGone(t, bot)
			if _, kept := remoteBot(sim, code); kept != (tc.want == b24v1.DeletionPolicyOrphan) {
				t.Fatalf("bot still registered: %v, want %v (policy %s)", kept, !kept, tc.want)
			}
		})
	}
}
