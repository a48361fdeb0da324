package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
)

// credentialReader reads Secrets for the objects' credentials. With requireLabel, a Secret
// without the credentials label is not used: its content is dropped and the error says which
// label to add, and nothing about the Secret.
type credentialReader struct {
	client.Reader
	requireLabel bool
}

func (r credentialReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := r.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if s, ok := obj.(*corev1.Secret); ok && r.requireLabel && !refs.IsCredentials(s) {
		*s = corev1.Secret{}
		return UnlabelledSecretError(key.Name)
	}
	return nil
}

// UnlabelledSecretError is the error of a referenced Secret without the credentials label.
func UnlabelledSecretError(name string) *managed.Error {
	return managed.Stalled(b24v1.ReasonInvalidSpec,
		"Secret %s is not labelled for the operator: add the label %s=%s to it (kubectl label secret %s %s=%s)",
		name, refs.CredentialsLabel, refs.CredentialsLabelValue, name, refs.CredentialsLabel, refs.CredentialsLabelValue)
}

// CacheByObject is the cache configuration the controllers expect: with requireSecretLabel,
// the Secret metadata informer lists and watches only the Secrets labelled for the operator,
// so the operator neither holds nor reacts to any other Secret of the cluster.
func CacheByObject(requireSecretLabel bool) map[client.Object]cache.ByObject {
	if !requireSecretLabel {
		return nil
	}
	sel, err := labels.Parse(fmt.Sprintf("%s=%s", refs.CredentialsLabel, refs.CredentialsLabelValue))
	if err != nil {
		panic(err) // a constant selector
	}
	return map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: sel}}
}
