package main

import (
	"reflect"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/webhook"
)

// Every kind of the API is in the controller registry, under its own name, and the kinds
// marked for admission are exactly those the webhook validates: a kind added to the API but
// forgotten in the registry (or registered for admission on one side only) fails here.
func TestKindRegistryIsComplete(t *testing.T) {
	s := runtime.NewScheme()
	if err := b24v1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	var apiKinds []string
	for name, typ := range s.KnownTypes(b24v1.GroupVersion) {
		if _, ok := reflect.New(typ).Interface().(managed.Object); ok {
			apiKinds = append(apiKinds, name)
		}
	}
	var registered, admitted []string
	for _, k := range controller.Kinds() {
		if got := reflect.TypeOf(k.Object).Elem().Name(); got != k.Name {
			t.Errorf("registry entry %s holds a %s", k.Name, got)
		}
		registered = append(registered, k.Name)
		if k.Webhook {
			admitted = append(admitted, k.Name)
		}
	}
	var webhooks []string
	for _, k := range webhook.Kinds() {
		webhooks = append(webhooks, k.Name)
	}
	for _, l := range [][]string{apiKinds, registered, admitted, webhooks} {
		slices.Sort(l)
	}
	if !slices.Equal(apiKinds, registered) {
		t.Errorf("API kinds %v, controller registry %v", apiKinds, registered)
	}
	if !slices.Equal(admitted, webhooks) {
		t.Errorf("registry marks %v for admission, the webhook validates %v", admitted, webhooks)
	}
	if len(apiKinds) < 6 {
		t.Errorf("found only %v in the API scheme", apiKinds)
	}
}
