package chart

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestWebhookSkipsFinalizerAndDeletion installs the chart's ValidatingWebhookConfiguration,
// pointed at a webhook server that is down (failurePolicy Fail), and pins what its
// matchConditions let through: a spec change is refused (the webhook is really in the way),
// while removing a finalizer by hand and deleting still work.
func TestWebhookSkipsFinalizerAndDeletion(t *testing.T) {
	helm := tool(t, "HELM_BIN")
	e := controlPlane(t)
	c := e.Client
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	vwc := find(decode(t, render(t, helm, "--show-only", "templates/webhook.yaml")), "ValidatingWebhookConfiguration", releaseName)
	if vwc == nil {
		t.Fatal("the chart renders no ValidatingWebhookConfiguration")
	}
	webhooks, _ := vwc["webhooks"].([]any)
	if len(webhooks) == 0 {
		t.Fatal("no webhooks")
	}
	// Nothing listens on a port just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "https://" + l.Addr().String()
	_ = l.Close()
	for _, w := range webhooks {
		wh := w.(map[string]any)
		if wh["matchConditions"] == nil {
			t.Errorf("webhook %v has no matchConditions", wh["name"])
		}
		cc := wh["clientConfig"].(map[string]any)
		path := str(cc, "service", "path")
		wh["clientConfig"] = map[string]any{"url": down + path}
		wh["failurePolicy"] = "Fail"
		wh["timeoutSeconds"] = int64(2)
	}

	const ns = "webhook-down"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	chat := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "b24ops.io/v1alpha1", "kind": "Chat",
		"metadata": map[string]any{"name": "stuck", "namespace": ns, "finalizers": []any{"b24ops.io/finalizer"}},
		"spec":     map[string]any{"botRef": map[string]any{"name": "support"}},
	}}
	if err := c.Create(ctx, chat); err != nil {
		t.Fatal(err)
	}

	u := &unstructured.Unstructured{Object: map[string]any(vwc)}
	u.SetName("b24-operator-down")
	u.SetResourceVersion("")
	if err := c.Create(ctx, u); err != nil {
		t.Fatalf("install the chart's webhook configuration: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), u) })

	key := client.ObjectKeyFromObject(chat)
	// The API server picks the configuration up asynchronously: wait until a spec change is
	// refused because the webhook cannot be reached.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(chat.GroupVersionKind())
		if err := c.Get(ctx, key, cur); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(cur.Object, "try "+strings.Repeat("x", i%5+1), "spec", "description")
		err := c.Update(ctx, cur)
		if err != nil && strings.Contains(err.Error(), "failed calling webhook") {
			break
		}
		if err != nil && !apierrors.IsConflict(err) {
			t.Fatalf("spec update: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a spec change never reached the (down) webhook")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Deleting marks the object; the finalizer holds it.
	if err := c.Delete(ctx, chat); err != nil {
		t.Fatalf("delete with the webhook down: %v", err)
	}
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(chat.GroupVersionKind())
	if err := c.Get(ctx, key, cur); err != nil {
		t.Fatal(err)
	}
	if cur.GetDeletionTimestamp() == nil {
		t.Fatal("the finalizer should hold the deleted Chat")
	}
	cur.SetFinalizers(nil)
	if err := c.Update(ctx, cur); err != nil {
		t.Fatalf("removing the finalizer by hand with the webhook down: %v", err)
	}
	if err := c.Get(ctx, key, cur); !apierrors.IsNotFound(err) {
		t.Fatalf("the Chat should be gone once its finalizer is removed: %v", err)
	}
}
