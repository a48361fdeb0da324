package managed_test

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// thing is a kind of the tests' own: the loop knows no real kind, and neither do its tests.
type thing struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              thingSpec   `json:"spec"`
	Status            thingStatus `json:"status,omitempty"`
}

type thingSpec struct {
	// Ref names another thing this one depends on.
	Ref string `json:"ref,omitempty"`
	// DeletionPolicy is the object's own deletion policy.
	DeletionPolicy *b24v1.DeletionPolicy `json:"deletionPolicy,omitempty"`
	// ObserveOnly is the object's management policy.
	ObserveOnly bool `json:"observeOnly,omitempty"`
}

type thingStatus struct {
	b24v1.CommonStatus `json:",inline"`
	// Attempt is what a record-before-act step writes.
	Attempt string `json:"attempt,omitempty"`
	// RemoteID is what Create learns.
	RemoteID int `json:"remoteID,omitempty"`
	// DeletionPolicy is the policy in effect.
	DeletionPolicy b24v1.DeletionPolicy `json:"deletionPolicy,omitempty"`
}

func (t *thing) CommonStatus() *b24v1.CommonStatus { return &t.Status.CommonStatus }

func (t *thing) ObserveOnly() bool { return t.Spec.ObserveOnly }

func (t *thing) SpecDeletionPolicy() *b24v1.DeletionPolicy { return t.Spec.DeletionPolicy }

func (t *thing) SetEffectiveDeletionPolicy(p b24v1.DeletionPolicy) { t.Status.DeletionPolicy = p }

func (t *thing) DeepCopyObject() runtime.Object {
	out := *t
	t.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	t.Status.CommonStatus.DeepCopyInto(&out.Status.CommonStatus)
	return &out
}

type thingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []thing `json:"items"`
}

func (l *thingList) DeepCopyObject() runtime.Object {
	out := &thingList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	for i := range l.Items {
		out.Items = append(out.Items, *l.Items[i].DeepCopyObject().(*thing))
	}
	return out
}

var thingGV = schema.GroupVersion{Group: "test.b24ops.io", Version: "v1"}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	s.AddKnownTypes(thingGV, &thing{}, &thingList{})
	metav1.AddToGroupVersion(s, thingGV)
	return s
}
