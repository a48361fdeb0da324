package managed_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
)

func TestDeletionPolicyPrecedence(t *testing.T) {
	del, orphan := b24v1.DeletionPolicyDelete, b24v1.DeletionPolicyOrphan
	for _, tc := range []struct {
		name string
		// own is the object's spec.deletionPolicy; nsAnnotation the namespace's annotation
		// ("" = none, nsMissing = no Namespace object); flag the manager's default.
		own          *b24v1.DeletionPolicy
		nsAnnotation string
		nsMissing    bool
		flag         b24v1.DeletionPolicy
		want         b24v1.DeletionPolicy
	}{
		{name: "nothing set means Delete", want: del},
		{name: "the manager's default applies to an object that sets none", flag: orphan, want: orphan},
		{name: "the namespace annotation wins over the manager's default", nsAnnotation: "Orphan", flag: del, want: orphan},
		{name: "the namespace annotation Delete wins over a manager default of Orphan", nsAnnotation: "Delete", flag: orphan, want: del},
		{name: "the object's own field wins over the namespace", own: &del, nsAnnotation: "Orphan", flag: orphan, want: del},
		{name: "the object's own Orphan wins over everything", own: &orphan, nsAnnotation: "Delete", flag: del, want: orphan},
		{name: "a namespace annotation that is no policy is ignored", nsAnnotation: "orphan", flag: orphan, want: orphan},
		{name: "a namespace that cannot be found falls back to the manager's default", nsMissing: true, flag: orphan, want: orphan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c calls
			obj := newThing("a")
			obj.Spec.DeletionPolicy = tc.own
			objs := []client.Object{obj}
			if !tc.nsMissing {
				n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
				if tc.nsAnnotation != "" {
					n.Annotations = map[string]string{b24v1.DefaultDeletionPolicyAnnotation: tc.nsAnnotation}
				}
				objs = append(objs, n)
			}
			h := newHarness(t, counting(&c, managed.Observation{Exists: true, UpToDate: true}), objs...)
			h.r.DefaultDeletionPolicy = tc.flag
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			if got := h.get("a").Status.DeletionPolicy; got != tc.want {
				t.Fatalf("status.deletionPolicy %q, want %q", got, tc.want)
			}
			h.delete("a")
			if _, err := h.reconcile("a"); err != nil {
				t.Fatal(err)
			}
			if wantDelete := tc.want == del; (c.delete == 1) != wantDelete || !h.gone("a") {
				t.Fatalf("Delete calls %d, want a remote delete: %v; gone %v", c.delete, wantDelete, h.gone("a"))
			}
		})
	}
}
