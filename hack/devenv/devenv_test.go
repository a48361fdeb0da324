package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestMakeRunShowsEverySampleReady runs what `make run` runs, end to end: a real control
// plane, the b24sim binary, the operator binary, and every sample of config/samples, each of
// which must become Ready. Once they are, the live spec of every object must equal the applied
// one: the operator never writes spec and the CRDs default nothing, so ArgoCD and Flux see no
// drift.
func TestMakeRunShowsEverySampleReady(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of make run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	noDrift := func(ctx context.Context, c client.Client, applied []*unstructured.Unstructured) error {
		// Give the operator a few more reconciles (status writes, resyncs) to show any drift.
		time.Sleep(3 * time.Second)
		for _, o := range applied {
			if !isCustom(o) {
				continue
			}
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(o.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
				return err
			}
			if !equality.Semantic.DeepEqual(o.Object["spec"], live.Object["spec"]) {
				return fmt.Errorf("%s %s: live spec %v differs from applied %v", o.GetKind(), o.GetName(), live.Object["spec"], o.Object["spec"])
			}
		}
		return nil
	}
	if err := run(ctx, t.TempDir(), t.TempDir(), 3*time.Minute, true, noDrift); err != nil {
		t.Fatal(err)
	}
}
