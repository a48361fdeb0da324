package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=create

// TokensSecretName is the Secret, in the Portal's namespace and owned by the Portal, that keeps
// the OAuth tokens the operator rotated. The user's credentials Secret is only ever read: a
// Secret kept by external-secrets, SOPS or a GitOps self-heal would revert a token written
// into it to a dead one.
func TokensSecretName(portal string) string { return portal + "-b24ops-tokens" }

const (
	// SeedAnnotation on a tokens Secret is the SHA-256 of the refresh token in the user's
	// credentials Secret that the kept tokens descend from. A different refresh token there
	// is a new authorization and wins over the kept tokens.
	SeedAnnotation = "b24ops.io/refresh-token-seed"
	// tokenSaveTimeout bounds one save of rotated tokens, whatever the deadline of the call
	// that made the refresh: a save cut short would lose the only live refresh token.
	tokenSaveTimeout = 15 * time.Second
)

func seedOf(refreshToken string) string {
	sum := sha256.Sum256([]byte(refreshToken))
	return hex.EncodeToString(sum[:])
}

func tokensOf(sec *corev1.Secret) bitrix.Tokens {
	t := bitrix.Tokens{
		AccessToken:  string(sec.Data[refs.OAuthAccessTokenKey]),
		RefreshToken: string(sec.Data[refs.OAuthRefreshTokenKey]),
	}
	if exp := string(sec.Data[refs.OAuthExpiresAtKey]); exp != "" {
		t.ExpiresAt, _ = time.Parse(time.RFC3339, exp)
	}
	return t
}

// keptTokens returns the newest tokens kept for the OAuth Portals that share portal's
// credentials Secret (portal included) and descend from seed, or nil when there are none: no
// refresh happened yet (tokens an older version wrote into the user's Secret are then used,
// read once), or the user authorized anew. A tokens Secret counts only when the Portal of
// its name controls it.
func (p *Portals) keptTokens(ctx context.Context, portal *b24v1.Portal, credSecret, seed string) (*bitrix.Tokens, error) {
	owners := []*b24v1.Portal{portal}
	var portals b24v1.PortalList
	if err := p.Writer.List(ctx, &portals, client.InNamespace(portal.Namespace), client.MatchingFields{refs.IndexSecrets: credSecret}); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list the Portals sharing Secret %s: %v", credSecret, err)
	}
	for i := range portals.Items {
		if o := &portals.Items[i]; o.Name != portal.Name && o.Spec.Auth.OAuth != nil {
			owners = append(owners, o)
		}
	}
	var best *bitrix.Tokens
	for _, o := range owners {
		var sec corev1.Secret
		if err := p.Reader.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: TokensSecretName(o.Name)}, &sec); err != nil {
			if me := (*managed.Error)(nil); apierrors.IsNotFound(err) || errors.As(err, &me) {
				continue // none, or not one the operator wrote (unlabelled)
			}
			return nil, managed.Retryable(b24v1.ReasonRemoteError, "read Secret %s: %v", TokensSecretName(o.Name), err)
		}
		if sec.Annotations[SeedAnnotation] != seed || !metav1.IsControlledBy(&sec, o) {
			continue
		}
		if t := tokensOf(&sec); t.RefreshToken != "" && (best == nil || t.ExpiresAt.After(best.ExpiresAt)) {
			best = &t
		}
	}
	return best, nil
}

// ownedTokenStore saves rotated tokens into the tokens Secret of every Portal that shares the
// client (Portals with one credentials Secret share one refresh state). Writes are guarded by
// resourceVersion, and a kept token that expires later than the one being saved (a newer
// rotation, by another replica or an earlier leader) is never overwritten.
type ownedTokenStore struct {
	c    client.Client
	seed string
	// owners are the Portals sharing the client.
	owners func() []*b24v1.Portal
	// saved is told each refresh token written.
	saved func(refreshToken string)
}

func (s *ownedTokenStore) SaveTokens(ctx context.Context, t bitrix.Tokens) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenSaveTimeout)
	defer cancel()
	for _, o := range s.owners() {
		if err := s.save(ctx, o, t); err != nil {
			return err
		}
	}
	if s.saved != nil {
		s.saved(t.RefreshToken)
	}
	return nil
}

func (s *ownedTokenStore) save(ctx context.Context, owner *b24v1.Portal, t bitrix.Tokens) error {
	key := types.NamespacedName{Namespace: owner.Namespace, Name: TokensSecretName(owner.Name)}
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	return retry.OnError(retry.DefaultRetry, retriable, func() error {
		var sec corev1.Secret
		err := s.c.Get(ctx, key, &sec)
		if apierrors.IsNotFound(err) {
			sec = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Type: corev1.SecretTypeOpaque}
			fillTokens(&sec, owner, s.seed, t)
			return s.c.Create(ctx, &sec)
		}
		if err != nil {
			return err
		}
		if !metav1.IsControlledBy(&sec, owner) {
			return fmt.Errorf("secret %s exists and is not controlled by Portal %s", key.Name, owner.Name)
		}
		if kept := tokensOf(&sec); sec.Annotations[SeedAnnotation] == s.seed && kept.RefreshToken != t.RefreshToken && kept.ExpiresAt.After(t.ExpiresAt) {
			return nil // a newer rotation is kept already
		}
		fillTokens(&sec, owner, s.seed, t)
		return s.c.Update(ctx, &sec)
	})
}

func fillTokens(sec *corev1.Secret, owner *b24v1.Portal, seed string, t bitrix.Tokens) {
	if sec.Labels == nil {
		sec.Labels = map[string]string{}
	}
	sec.Labels[refs.CredentialsLabel] = refs.CredentialsLabelValue
	sec.Labels["app.kubernetes.io/managed-by"] = "b24-operator"
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Annotations[SeedAnnotation] = seed
	controller := true
	sec.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: b24v1.GroupVersion.String(), Kind: "Portal", Name: owner.Name, UID: owner.UID, Controller: &controller,
	}}
	sec.Data = map[string][]byte{
		refs.OAuthAccessTokenKey:  []byte(t.AccessToken),
		refs.OAuthRefreshTokenKey: []byte(t.RefreshToken),
	}
	if !t.ExpiresAt.IsZero() {
		sec.Data[refs.OAuthExpiresAtKey] = []byte(t.ExpiresAt.UTC().Format(time.RFC3339))
	}
}

// ownerOf is what a tokens Secret needs of its Portal.
func ownerOf(p *b24v1.Portal) *b24v1.Portal {
	return &b24v1.Portal{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
}

// joinShared gives the Portal the client of another Portal of the same credentials Secret and
// fingerprint whose tokens are the ones resolved (so one refresh serves both, and neither
// retires the other's refresh token). Callers hold p.mu.
func (p *Portals) joinShared(key types.NamespacedName, portal *b24v1.Portal, creds *credentials) *portalClient {
	secret := types.NamespacedName{Namespace: portal.Namespace, Name: portal.Spec.Auth.OAuth.SecretRef.Name}
	for k, o := range p.clients {
		if k == key || o.group == nil || o.group.secret != secret || o.fingerprint != creds.fingerprint || o.group.members[k] == nil {
			continue
		}
		if rt := creds.oauth.RefreshToken; rt != o.client.Tokens().RefreshToken && !o.ownRefreshTokens[rt] {
			continue
		}
		pc := &portalClient{fingerprint: o.fingerprint, client: o.client, ownRefreshTokens: o.ownRefreshTokens,
			generation: portal.Generation, group: o.group}
		o.group.members[key] = ownerOf(portal)
		p.clients[key] = pc
		return pc
	}
	return nil
}

// leave takes the Portal out of its client's group. Callers hold Portals.mu.
func (pc *portalClient) leave(key types.NamespacedName) {
	if pc.group != nil {
		delete(pc.group.members, key)
	}
}

// owners lists the group's Portals.
func (p *Portals) owners(g *tokenGroup) []*b24v1.Portal {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*b24v1.Portal, 0, len(g.members))
	for _, o := range g.members {
		out = append(out, o)
	}
	return out
}
