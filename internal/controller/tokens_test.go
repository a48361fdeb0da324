package controller_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/controller"
	"github.com/b24ops/b24-operator/internal/refs"
)

// tokensSecret reads the Secret the operator keeps a Portal's rotated tokens in.
func tokensSecret(t *testing.T, p *b24v1.Portal) (*corev1.Secret, bool) {
	t.Helper()
	var s corev1.Secret
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: p.Namespace, Name: controller.TokensSecretName(p.Name)}, &s)
	if client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	return &s, err == nil
}

// rotate expires the access tokens and reconciles the Portal, which refreshes them.
func rotate(t *testing.T, sim *bitrixtest.Server, portals ...*b24v1.Portal) {
	t.Helper()
	sim.ExpireAccessTokens()
	for _, p := range portals {
		forceReconcile(t, p)
	}
}

func TestOAuthTokensSecret(t *testing.T) {
	run := perSimCases(t, managerOpts{})

	run("rotated tokens go to <portal>-b24ops-tokens, owned by the Portal and labelled; the user's Secret is never written", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		const clientID = "local.owned-tokens"
		p, userSecret, _, _ := oauthPortal(t, ns, "acme", clientID, sim)
		waitReady(t, p)
		before := *userSecret.DeepCopy()
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(userSecret), &before); err != nil {
			t.Fatal(err)
		}
		if _, ok := tokensSecret(t, p); ok {
			t.Fatal("tokens Secret created before any refresh")
		}
		rotate(t, sim, p)
		waitReady(t, p)
		if n := sim.RefreshCount(clientID); n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
		kept, ok := tokensSecret(t, p)
		if !ok {
			t.Fatal("no tokens Secret after the refresh")
		}
		if !metav1.IsControlledBy(kept, p) || !refs.IsCredentials(kept) {
			t.Errorf("tokens Secret owners %+v labels %v, want controlled by Portal %s and labelled", kept.OwnerReferences, kept.Labels, p.Name)
		}
		if string(kept.Data["refreshToken"]) == string(before.Data["refreshToken"]) || len(kept.Data["accessToken"]) == 0 {
			t.Error("the tokens Secret does not hold the rotated tokens")
		}
		var after corev1.Secret
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(userSecret), &after); err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("the user's Secret was written (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
		}
	})

	run("tokens an older version wrote into the user's Secret are used until the first refresh moves them", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		// Today's layout: the user's Secret holds the live tokens (they were written back
		// there); there is no tokens Secret yet.
		const clientID = "local.migrate"
		p, userSecret, _, _ := oauthPortal(t, ns, "acme", clientID, sim)
		waitReady(t, p)
		if n := sim.RefreshCount(clientID); n != 0 {
			t.Fatalf("%d refreshes with the user's live tokens, want 0", n)
		}
		rotate(t, sim, p)
		waitReady(t, p)
		kept, ok := tokensSecret(t, p)
		if !ok || string(kept.Data["refreshToken"]) == string(userSecret.Data["refreshToken"]) {
			t.Fatal("the first refresh did not move the tokens to the tokens Secret")
		}
	})

	run("Portals sharing one credentials Secret share one refresh", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		const clientID = "local.shared"
		a, userSecret, _, _ := oauthPortal(t, ns, "a", clientID, sim)
		b := a.DeepCopy()
		b.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "b"}
		b.Spec.Auth.OAuth.SecretRef.Name = userSecret.Name
		create(t, b)
		waitReady(t, a)
		waitReady(t, b)
		rotate(t, sim, a, b)
		waitReady(t, a)
		waitReady(t, b)
		if n := sim.RefreshCount(clientID); n != 1 {
			t.Fatalf("%d refreshes for two Portals of one Secret, want 1", n)
		}
		ka, okA := tokensSecret(t, a)
		kb, okB := tokensSecret(t, b)
		if !okA || !okB || string(ka.Data["refreshToken"]) != string(kb.Data["refreshToken"]) {
			t.Fatalf("tokens Secrets a %v b %v: want both, with one refresh token", okA, okB)
		}
		if !metav1.IsControlledBy(kb, b) {
			t.Errorf("b's tokens Secret is not controlled by b: %+v", kb.OwnerReferences)
		}
	})

	run("a newer rotation kept in the tokens Secret is never overwritten by an older one", func(t *testing.T, ns string, sim *bitrixtest.Server) {
		const clientID = "local.newer"
		p, _, _, _ := oauthPortal(t, ns, "acme", clientID, sim)
		bot := chatBot(ns, "support", "acme", "support")
		create(t, bot)
		waitReady(t, p)
		waitReady(t, bot)
		rotate(t, sim, p)
		waitReady(t, p)
		kept, _ := tokensSecret(t, p)
		// Another replica's later rotation: tokens that expire after any this one can get.
		exp, err := time.Parse(time.RFC3339, string(kept.Data["expiresAt"]))
		if err != nil {
			t.Fatal(err)
		}
		update(t, kept, func() {
			kept.Data["refreshToken"] = []byte("newer-refresh")
			kept.Data["accessToken"] = []byte("newer-access")
			kept.Data["expiresAt"] = []byte(exp.Add(2 * time.Hour).UTC().Format(time.RFC3339))
		})
		// The bot's reconcile uses the Portal's client as it is (the Portal's own reconcile
		// would adopt the newer tokens first), so its refresh saves older tokens.
		sim.ExpireAccessTokens()
		forceReconcile(t, bot)
		if n := sim.RefreshCount(clientID); n != 2 {
			t.Fatalf("%d refreshes, want 2", n)
		}
		// The save ran within the refresh, inside the reconcile rotate waited for.
		got, _ := tokensSecret(t, p)
		if string(got.Data["refreshToken"]) != "newer-refresh" {
			t.Fatal("the newer kept tokens were overwritten")
		}
	})
}

// A restarted operator goes on from the kept tokens, not from the user's Secret, whose
// refresh token the first rotation retired.
func TestOAuthTokensSecretAfterRestart(t *testing.T) {
	sim := bitrixtest.NewServer()
	defer sim.Close()
	ns, _, stop := startTest(t, managerOpts{})
	const clientID = "local.restart"
	p, _, _, _ := oauthPortal(t, ns, "acme", clientID, sim)
	waitReady(t, p)
	rotate(t, sim, p)
	waitReady(t, p)
	if _, ok := tokensSecret(t, p); !ok {
		t.Fatal("no tokens Secret after the refresh")
	}
	stop()
	startManager(t, managerOpts{})
	rotate(t, sim, p)
	waitReady(t, p)
	if n := sim.RefreshCount(clientID); n != 2 {
		t.Fatalf("%d refreshes, want 2", n)
	}
}
