package controller

import (
	"context"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

// portalAdapter checks a Portal's credentials. A Portal has no remote object of its own: its
// "observe" is the auth check, and its deletion waits for the ChatBots that use it.
type portalAdapter struct {
	client  client.Client
	reader  client.Reader
	portals *Portals
}

func (a *portalAdapter) Orphan(*b24v1.Portal) bool { return false }

// DependedOnBy: a Portal's deletion waits for its ChatBots, which need its credentials to
// unregister.
func (a *portalAdapter) DependedOnBy(*b24v1.Portal) []managed.Dependents {
	return []managed.Dependents{{Kind: "ChatBot", List: &b24v1.ChatBotList{}, Field: refs.IndexPortalRef}}
}

func (a *portalAdapter) Connect(_ context.Context, p *b24v1.Portal) (managed.External[*b24v1.Portal], error) {
	return &portalExternal{a}, nil
}

type portalExternal struct{ *portalAdapter }

func resyncOf(p *b24v1.Portal) time.Duration {
	if p.Spec.ResyncInterval != nil && p.Spec.ResyncInterval.Duration > 0 {
		return p.Spec.ResyncInterval.Duration
	}
	return managed.DefaultResync
}

func (e *portalExternal) Observe(ctx context.Context, p *b24v1.Portal, force bool) (obs managed.Observation, err error) {
	defer func() {
		// Credentials the portal or the spec refused are no longer verified; a transient
		// failure (a timeout, a rate limit) leaves the last verification standing.
		if err != nil && managed.Classify("", err).Outcome == managed.Stall {
			p.Status.VerifiedApplicationKey = ""
		}
	}()
	return e.observe(ctx, p, force)
}

func (e *portalExternal) observe(ctx context.Context, p *b24v1.Portal, force bool) (managed.Observation, error) {
	p.Status.ApplicationKey = rules.ApplicationKey(p)
	bots, err := botsOfPortal(ctx, e.client, p)
	if err != nil {
		return managed.Observation{}, err
	}
	var bound int32
	for _, b := range bots {
		if b.Status.BotID != 0 {
			bound++
		}
	}
	p.Status.BoundBots = bound

	// The credentials stay readable until the Portal is gone (see InUseFinalizer): Update
	// puts the finalizer on what lacks it.
	held, err := refsHeld(ctx, e.reader, p)
	if err != nil {
		return managed.Observation{}, managed.Retryable(b24v1.ReasonRemoteError, "read Secret: %v", err)
	}
	c, err := e.portals.Client(ctx, p)
	if err != nil {
		return managed.Observation{}, err
	}
	obs := managed.Observation{Exists: true, UpToDate: held, RequeueAfter: resyncOf(p),
		Message: "Credentials accepted and the imbot scope is granted"}
	if id, ok := e.portals.IdentityOf(p); ok {
		// An identity kept in the Secret is known only from it: its key is a fingerprint.
		p.Status.ApplicationKey = id.AppKey
		obs.Message += rotationNote(id, bots)
	}

	// The auth check runs once per resync, not on every bot change that re-queues the Portal.
	ready := meta.FindStatusCondition(p.Status.Conditions, b24v1.ConditionReady)
	if !force && e.portals.authFresh(p, c, resyncOf(p)) && ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == p.Generation && p.Status.V2Available != nil {
		return obs, nil
	}
	scopes, err := c.Scope(ctx)
	if err != nil {
		return managed.Observation{}, err
	}
	if !slices.Contains(scopes, "imbot") {
		return managed.Observation{}, managed.Stalled(b24v1.ReasonMissingScope, "the credentials lack the imbot scope (granted: %s)", strings.Join(scopes, ", "))
	}
	if p.Spec.Auth.OAuth != nil {
		info, err := c.AppInfo(ctx)
		if err != nil {
			return managed.Observation{}, err
		}
		if !info.Installed {
			return managed.Observation{}, managed.Stalled(b24v1.ReasonInstallNotFinished, "the application's installation is not finished: Bitrix24 delivers no bot events to it until installFinish is called from its install page")
		}
	}
	// Which bot APIs the portal has, once per resync with the auth check: ChatBots without
	// spec.api read it from here. A portal without imbot.v2 is not an error.
	rev, err := c.Revision(ctx)
	if err != nil {
		return managed.Observation{}, err
	}
	hasV2 := rev.HasV2()
	p.Status.APIRevision, p.Status.V2Available = int32(rev.REST), &hasV2
	if !hasV2 {
		obs.Message += "; the portal has no imbot.v2, so its bots use the V1 API"
	}
	// The credentials are verified: from now on the Portal counts for the rules across
	// objects and tunes its host's shared rate limiter.
	p.Status.VerifiedApplicationKey = p.Status.ApplicationKey
	e.portals.markAuthChecked(p, c)
	return obs, nil
}

// rotationNote tells how far the move of the Portal's bots onto a new webhook identity is.
func rotationNote(id Identity, bots []b24v1.ChatBot) string {
	var left []string
	for i := range bots {
		if b := &bots[i]; b.Status.BotID != 0 && b.Status.ApplicationKey != "" && !id.Owns(b.Status.ApplicationKey) {
			left = append(left, b.Name)
		}
	}
	switch {
	case len(left) > 0:
		slices.Sort(left)
		return "; the webhook identity changed and these ChatBots are still registered under a previous one: " + strings.Join(left, ", ")
	case id.previous != "":
		return "; every bot uses the current webhook identity: the Secret's " + refs.WebhookPreviousClientIDSecretKey + " can be removed"
	}
	return ""
}

func (e *portalExternal) Create(context.Context, *b24v1.Portal) (managed.Applied, error) {
	return managed.Applied{Noop: true}, nil
}

// Update marks the Portal's Secret and CA in use. Nothing changes remotely.
func (e *portalExternal) Update(ctx context.Context, p *b24v1.Portal) (managed.Applied, error) {
	if err := holdRefs(ctx, e.reader, e.client, p, true); err != nil {
		return managed.Applied{}, managed.Retryable(b24v1.ReasonRemoteError, "mark Secret in use: %v", err)
	}
	return managed.Applied{Noop: true}, nil
}

// Delete releases the Secret and CA; the loop has waited for the ChatBots.
func (e *portalExternal) Delete(ctx context.Context, p *b24v1.Portal) (managed.Applied, error) {
	if err := e.releaseRefs(ctx, p); err != nil {
		return managed.Applied{}, managed.Retryable(b24v1.ReasonRemoteError, "release Secret: %v", err)
	}
	e.portals.Forget(client.ObjectKeyFromObject(p))
	return managed.Applied{}, nil
}

// releaseRefs takes the in-use finalizer off the Portal's Secret and CA unless another Portal
// still needs them: one not being deleted, or a deleting one whose ChatBots still have to
// unregister. Releasing a shared Secret early would let a namespace deletion remove it before
// the other Portal's bots are gone, and that deletion would then hang.
func (e *portalExternal) releaseRefs(ctx context.Context, p *b24v1.Portal) error {
	var portals b24v1.PortalList
	if err := e.client.List(ctx, &portals, client.InNamespace(p.Namespace)); err != nil {
		return err
	}
	inUse := map[string]bool{}
	for i := range portals.Items {
		o := &portals.Items[i]
		if o.Name == p.Name {
			continue
		}
		if !o.DeletionTimestamp.IsZero() {
			if bots, err := botsOfPortal(ctx, e.client, o); err != nil {
				return err
			} else if len(bots) == 0 {
				continue
			}
		}
		for _, name := range refs.Secrets(o) {
			inUse["Secret/"+name] = true
		}
		for _, name := range refs.ConfigMaps(o) {
			inUse["ConfigMap/"+name] = true
		}
	}
	for _, name := range refs.Secrets(p) {
		if !inUse["Secret/"+name] {
			if err := holdOne(ctx, e.reader, e.client, &corev1.Secret{}, types.NamespacedName{Namespace: p.Namespace, Name: name}, false); err != nil {
				return err
			}
		}
	}
	for _, name := range refs.ConfigMaps(p) {
		if !inUse["ConfigMap/"+name] {
			if err := holdOne(ctx, e.reader, e.client, &corev1.ConfigMap{}, types.NamespacedName{Namespace: p.Namespace, Name: name}, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func botsOfPortal(ctx context.Context, c client.Client, p *b24v1.Portal) ([]b24v1.ChatBot, error) {
	var list b24v1.ChatBotList
	if err := c.List(ctx, &list, client.InNamespace(p.Namespace), client.MatchingFields{refs.IndexPortalRef: p.Name}); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list ChatBots: %v", err)
	}
	return list.Items, nil
}
