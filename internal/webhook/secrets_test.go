package webhook_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/testenv"
)

// as is a client that acts as user (impersonated by the envtest admin).
func as(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// grant binds user to a Role in ns with the rules.
func grant(t *testing.T, ns, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	name := user + "-role"
	mustCreate(t,
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}})
}

// Referring to a Secret hands it to the operator, which sends it to a host the object names:
// whoever may create a Portal, ChatApp or Metabot but not read the Secret is refused at
// admission, the refusal naming the field (a SubjectAccessReview for the requester).
func TestSecretAccessAtAdmission(t *testing.T) {
	ns := namespace(t)
	manage := rbacv1.PolicyRule{APIGroups: []string{b24v1.GroupVersion.Group}, Resources: []string{"portals", "chatapps", "metabots"}, Verbs: []string{"create", "update", "get", "patch"}}
	readable := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"readable"}, Verbs: []string{"get"}}
	grant(t, ns, "alice", manage)         // may manage the objects, may read no Secret
	grant(t, ns, "bob", manage, readable) // may also read the Secret "readable"
	alice, bob := as(t, "alice"), as(t, "bob")

	webhookPortal := func(name, secret string) *b24v1.Portal {
		p := portal(ns, name, "https://"+uniqueHost(t), "bots", 0)
		p.Spec.Auth.Webhook.SecretRef.Name = secret
		return p
	}
	oauthPortal := func(name, secret string) *b24v1.Portal {
		p := portal(ns, name, "https://"+uniqueHost(t), "bots", 0)
		p.Spec.Auth.Webhook = nil
		p.Spec.Auth.OAuth = &b24v1.OAuthAuth{ClientID: "local.app", SecretRef: b24v1.LocalObjectReference{Name: secret}}
		return p
	}
	metabot := func(name, secret string) *b24v1.Metabot {
		return &b24v1.Metabot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: b24v1.MetabotSpec{BotID: 7, TokenSecretRef: b24v1.KeyReference{Name: secret, Key: "token"}}}
	}
	chatApp := func(name, secret string) *b24v1.ChatApp {
		return &b24v1.ChatApp{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: b24v1.ChatAppSpec{BotRef: b24v1.LocalObjectReference{Name: "support"}, Code: name, Hidden: ptrTo(true),
				Iframe: &b24v1.IframeApp{URL: "https://apps.example.com/frame", HashSecretRef: b24v1.KeyReference{Name: secret, Key: "hash"}}}}
	}
	for _, tc := range []struct {
		name string
		c    client.Client
		obj  client.Object
		want []string
	}{
		{"a webhook Portal on a Secret the requester may not get is refused", alice, webhookPortal("hook", "hidden"),
			[]string{"spec.auth.webhook.secretRef.name", "alice may not get Secret hidden"}},
		{"an OAuth Portal on a Secret the requester may not get is refused", alice, oauthPortal("oauth", "hidden"),
			[]string{"spec.auth.oauth.secretRef.name", "alice may not get Secret hidden"}},
		{"a Metabot on a token Secret the requester may not get is refused", alice, metabot("metabot", "hidden"),
			[]string{"spec.tokenSecretRef.name", "alice may not get Secret hidden"}},
		{"an IFRAME ChatApp on a hash Secret the requester may not get is refused", alice, chatApp("frame", "hidden"),
			[]string{"spec.iframe.hashSecretRef.name", "alice may not get Secret hidden"}},
		{"a requester who may get the Secret is admitted (Portal)", bob, webhookPortal("bobs", "readable"), nil},
		{"a requester who may get the Secret is admitted (Metabot)", bob, metabot("bobs-metabot", "readable"), nil},
		{"a requester who may get the Secret is admitted (ChatApp)", bob, chatApp("bobs-frame", "readable"), nil},
		{"a grant on one Secret does not extend to another", bob, metabot("bobs-other", "hidden"),
			[]string{"spec.tokenSecretRef.name", "bob may not get Secret hidden"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, tc.c.Create(context.Background(), tc.obj), tc.want)
		})
	}

	t.Run("an update that keeps the Secret passes; one that switches to a hidden Secret is refused", func(t *testing.T) {
		ctx := context.Background()
		p := webhookPortal("kept", "readable")
		expect(t, bob.Create(ctx, p), nil)
		p.Spec.MaxBots = ptrTo(int32(3))
		expect(t, bob.Update(ctx, p), nil)
		p.Spec.Auth.Webhook.SecretRef.Name = "hidden"
		expect(t, bob.Update(ctx, p), []string{"spec.auth.webhook.secretRef.name", "bob may not get Secret hidden"})
	})
	t.Run("the refusal holds under a server-side dry run", func(t *testing.T) {
		expect(t, alice.Create(context.Background(), metabot("dry", "hidden"), client.DryRunAll), []string{"spec.tokenSecretRef.name"})
	})
}

func ptrTo[T any](v T) *T { return &v }
