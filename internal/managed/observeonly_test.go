package managed_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
)

func observeOnly(t *thing) *thing { t.Spec.ObserveOnly = true; return t }

func TestObserveOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  managed.Observation
		// wantReady is Ready's status and reason; wantSynced Synced's status and message.
		wantReady, wantReadyReason string
		wantSynced                 metav1.ConditionStatus
		wantSyncedMsg              string
	}{
		{name: "a missing remote object is reported, not created", obs: managed.Observation{},
			wantReady: "False", wantReadyReason: b24v1.ReasonDependencyNotReady,
			wantSynced: metav1.ConditionFalse, wantSyncedMsg: "no remote Thing was found; managementPolicy ObserveOnly creates nothing"},
		{name: "drift is reported in Synced, naming what differs, and not updated",
			obs:       managed.Observation{Exists: true, Drift: []string{"properties.name", "openline"}},
			wantReady: "True", wantReadyReason: b24v1.ReasonSucceeded,
			wantSynced: metav1.ConditionFalse, wantSyncedMsg: "the remote Thing differs from the spec: properties.name, openline"},
		{name: "a matching remote object is Synced", obs: managed.Observation{Exists: true, UpToDate: true},
			wantReady: "True", wantReadyReason: b24v1.ReasonSucceeded,
			wantSynced: metav1.ConditionTrue, wantSyncedMsg: "the remote Thing matches the spec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c calls
			h := newHarness(t, counting(&c, tc.obs), observeOnly(newThing("a")))
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			if c.create+c.update+c.delete != 0 || c.observe != 1 {
				t.Fatalf("calls %+v, want one Observe and no write", c)
			}
			got := h.get("a")
			if r := ready(got); r == nil || string(r.Status) != tc.wantReady || r.Reason != tc.wantReadyReason {
				t.Fatalf("Ready %+v, want %s %s", r, tc.wantReady, tc.wantReadyReason)
			}
			if s := meta.FindStatusCondition(got.Status.Conditions, b24v1.ConditionSynced); s == nil || s.Status != tc.wantSynced || s.Message != tc.wantSyncedMsg {
				t.Fatalf("Synced %+v, want %s %q", s, tc.wantSynced, tc.wantSyncedMsg)
			}
		})
	}
}

func TestObserveOnlyDeletionLeavesTheRemoteObject(t *testing.T) {
	var c calls
	del := b24v1.DeletionPolicyDelete
	obj := observeOnly(held("a"))
	obj.Spec.DeletionPolicy = &del
	h := newHarness(t, counting(&c, managed.Observation{Exists: true, UpToDate: true}), obj)
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if p := h.get("a").Status.DeletionPolicy; p != b24v1.DeletionPolicyOrphan {
		t.Fatalf("status.deletionPolicy %q, want Orphan (nothing observed is removed)", p)
	}
	h.delete("a")
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if c.delete != 0 || c.connect != 1 || !h.gone("a") {
		t.Fatalf("calls %+v, gone %v: want no Connect or Delete on deletion", c, h.gone("a"))
	}
	if ev := h.rec.of(corev1.EventTypeNormal); len(ev) != 1 || ev[0].reason != managed.EventOrphaned {
		t.Fatalf("events %v, want one Orphaned", ev)
	}
}

func TestObserveOnlyToFullTakesOver(t *testing.T) {
	var c calls
	h := newHarness(t, counting(&c, managed.Observation{Exists: true, Drift: []string{"properties.name"}}), observeOnly(held("a")))
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	o := h.get("a")
	o.Spec.ObserveOnly = false
	if err := h.c.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile("a"); err != nil {
		t.Fatal(err)
	}
	if c.update != 1 || c.create != 0 {
		t.Fatalf("calls %+v after switching to Full: want the drift updated in place, nothing created", c)
	}
	if s := meta.FindStatusCondition(h.get("a").Status.Conditions, b24v1.ConditionSynced); s != nil {
		t.Fatalf("Synced %+v kept on a Full object", s)
	}
}
