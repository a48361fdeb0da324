package controller_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// TestCredentialsLabel pins that the operator reads only the Secrets labelled for it, unless
// the manager runs with --require-secret-label=false.
func TestCredentialsLabel(t *testing.T) {
	// Each kind that reads a Secret: setup creates the object with its Secret (which has the
	// given labels) and returns both; calls counts the remote calls made so far.
	kinds := []struct {
		kind  string
		setup func(t *testing.T, ns string, labels map[string]string) (obj controllerObject, secret *corev1.Secret, calls func() int)
	}{
		{"Portal", func(t *testing.T, ns string, labels map[string]string) (controllerObject, *corev1.Secret, func() int) {
			sim := bitrixtest.NewServer()
			t.Cleanup(sim.Close)
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-webhook", Labels: labels},
				StringData: map[string]string{"webhookURL": sim.AddWebhook(1, "code-acme")}}
			p := &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"}, Spec: b24v1.PortalSpec{
				URL:      sim.URL,
				Auth:     b24v1.PortalAuth{Webhook: &b24v1.WebhookAuth{ClientID: "label-app", SecretRef: b24v1.LocalObjectReference{Name: sec.Name}}},
				CABundle: &b24v1.ConfigMapSource{ConfigMapKeyRef: b24v1.KeyReference{Name: "acme-ca", Key: "ca.crt"}},
			}}
			create(t, sec, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-ca"}, Data: map[string]string{"ca.crt": string(sim.CAPEM())}}, p)
			return p, sec, func() int { return len(sim.Calls()) }
		}},
		{"Metabot", func(t *testing.T, ns string, labels map[string]string) (controllerObject, *corev1.Secret, func() int) {
			sim := metabottest.NewServer()
			t.Cleanup(sim.Close)
			mb, sec := mbBot(t, ns, "jobs", sim, 21, true)
			sec.Labels = labels
			create(t, sec)
			return mb, sec, sim.Requests
		}},
		{"ChatApp", func(t *testing.T, ns string, labels map[string]string) (controllerObject, *corev1.Secret, func() int) {
			sim := bitrixtest.NewServer()
			t.Cleanup(sim.Close)
			portalWithBot(t, ns, sim)
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frame-hash", Labels: labels},
				StringData: map[string]string{"hash": strings.Repeat("ab", 16)}}
			app := jsApp(ns, "frame", "support", "frame")
			app.Spec.JSCommand = nil
			app.Spec.Iframe = &b24v1.IframeApp{URL: "https://apps.example.com/frame", HashSecretRef: b24v1.KeyReference{Name: sec.Name, Key: "hash"}}
			create(t, sec, app)
			return app, sec, func() int { return sim.CallCount("imbot.app.register") }
		}},
	}

	t.Run("label required (the default)", func(t *testing.T) {
		run := subtests(t, managerOpts{})
		for _, k := range kinds {
			run(k.kind+" with a labelled Secret becomes Ready", func(t *testing.T, ns string) {
				obj, _, _ := k.setup(t, ns, credentialsLabels)
				waitReady(t, obj)
			})
			run(k.kind+" with an unlabelled Secret is InvalidSpec saying which label to add, and Ready once it is added", func(t *testing.T, ns string) {
				obj, sec, calls := k.setup(t, ns, map[string]string{"team": "a"})
				assertStalled(t, obj, b24v1.ReasonInvalidSpec)
				want := `Secret ` + sec.Name + ` is not labelled for the operator: add the label b24ops.io/credentials=true to it (kubectl label secret ` + sec.Name + ` b24ops.io/credentials=true)`
				if msg := readyMessage(obj); msg != want {
					t.Errorf("message\n got %q\nwant %q", msg, want)
				}
				if n := calls(); n != 0 {
					t.Errorf("%d remote calls with what the unlabelled Secret holds, want none", n)
				}
				// Labelling is enough: the labelled Secret's appearance in the watch brings the
				// object back.
				update(t, sec, func() { sec.Labels = map[string]string{refs.CredentialsLabel: refs.CredentialsLabelValue} })
				waitReady(t, obj)
			})
		}
	})
	t.Run("--require-secret-label=false", func(t *testing.T) {
		run := subtests(t, managerOpts{opts: controller.Options{AllowUnlabelledSecrets: true}})
		for _, k := range kinds {
			run(k.kind+" with an unlabelled Secret becomes Ready", func(t *testing.T, ns string) {
				obj, _, _ := k.setup(t, ns, nil)
				waitReady(t, obj)
			})
		}
	})
}

// TestSecretInformerWatchesOnlyLabelledSecrets pins the cache the manager builds from
// CacheByObject: with the label required, an unlabelled Secret is not even in the metadata
// informer (the operator holds nothing of it); without, every Secret is.
func TestSecretInformerWatchesOnlyLabelledSecrets(t *testing.T) {
	ns := namespace(t)
	purgeAfter(t, func() {}, ns)
	create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "labelled", Labels: credentialsLabels}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unlabelled", Labels: map[string]string{"team": "a"}}})
	for _, tc := range []struct {
		name    string
		require bool
		want    []string
	}{
		{"label required", true, []string{"labelled"}},
		{"--require-secret-label=false", false, []string{"labelled", "unlabelled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, err := cache.New(env.Config, cache.Options{Scheme: testenv.Scheme, ByObject: controller.CacheByObject(tc.require),
				DefaultNamespaces: map[string]cache.Config{ns: {}}})
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = c.Start(ctx) }()
			if !c.WaitForCacheSync(ctx) {
				t.Fatal("the cache did not start")
			}
			var list metav1.PartialObjectMetadataList
			list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
			if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range list.Items {
				got = append(got, s.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("the Secret informer holds %v, want %v", got, tc.want)
			}
		})
	}
}
