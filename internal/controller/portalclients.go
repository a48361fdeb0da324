package controller

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

// InUseFinalizer keeps a Secret or ConfigMap readable while a Portal still needs it, so that
// deleting a whole namespace unregisters its bots before their credentials disappear.
const InUseFinalizer = "b24ops.io/in-use"

// Portals builds and caches one Bitrix24 client per Portal, rebuilt when the Portal's spec or
// the content of its Secret or CA ConfigMap changes, and one rate limiter per portal host,
// shared by every application on that host (Bitrix24 meters requests per portal).
type Portals struct {
	// Reader reads Secrets and ConfigMaps from the API server, never from a cache.
	Reader client.Reader
	// Writer writes rotated OAuth tokens and in-use finalizers.
	Writer client.Client
	// HTTPTimeout bounds each request (Bitrix24 stops a request at 60 s).
	HTTPTimeout time.Duration
	// Options go to every client, before the Portal's own.
	Options []bitrix.Option
	// Circuit configures the per-host circuit breakers (zero: the bitrix defaults).
	Circuit bitrix.CircuitConfig

	mu       sync.Mutex
	clients  map[types.NamespacedName]*portalClient
	limiters limiterSet
	circuits map[string]*bitrix.Circuit
	lists    map[types.NamespacedName]*botListEntry
	commands map[types.NamespacedName]*commandLists
}

type portalClient struct {
	fingerprint string
	client      *bitrix.Client
	// ownRefreshTokens are the refresh token the client was built with and those it wrote back
	// itself (guarded by Portals.mu). A Secret holding one of them lags behind the client (the
	// write of a newer rotation may still be in flight): it is not a new authorization, and a
	// client rebuilt from it would hold a refresh token Bitrix24 already retired.
	ownRefreshTokens map[string]bool
	// checkedAt is when the credentials last passed the auth check.
	checkedAt time.Time
	// generation is the Portal generation the credentials were last resolved for.
	generation int64
	// group are the OAuth Portals sharing client: those of one credentials Secret with the
	// same fingerprint share one refresh state (nil for a webhook client).
	group *tokenGroup
	// identity is the application the client acts as.
	identity Identity
}

// Identity is the application a Portal's client acts as, and for a webhook Portal what it
// needs to move V2 bots from a previous webhook identity onto the current one. It never leaves
// the process: only AppKey (which holds no identity kept in a Secret) goes to status.
type Identity struct {
	// AppKey is the application key of the current identity (rules.IdentityKey).
	AppKey string
	// url is the Portal's spec.url; current and previous the webhook identities (clientId and
	// the Secret's previousClientId), empty under OAuth.
	url, current, previous string
}

// Owns says whether an application key recorded for a bot names the current identity (in
// either form: the identity may have moved between spec and Secret).
func (id Identity) Owns(key string) bool {
	return key == id.AppKey || rules.KeyOfIdentity(key, id.url, id.current)
}

// previousFor returns the webhook identity a bot recorded under key was registered with, when
// the operator knows it: the Secret's previousClientId, or the identity written in clear in
// the key itself (a clientId from spec is not secret and is part of the key).
func (id Identity) previousFor(key string) (string, bool) {
	if id.current == "" || id.Owns(key) {
		return "", false // OAuth (no bot token to rotate), or nothing to rotate from
	}
	if rules.KeyOfIdentity(key, id.url, id.previous) {
		return id.previous, true
	}
	host := rules.PortalHost(id.url) + "/"
	if clear, ok := strings.CutPrefix(key, host); ok && !strings.HasPrefix(clear, "sha256:") && validClientID(clear) {
		return clear, true
	}
	return "", false
}

// validClientID is the schema's rule for a clientId: 1 to 128 of A-Z a-z 0-9 . _ -.
func validClientID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// tokenGroup is the Portals sharing one OAuth client (guarded by Portals.mu).
type tokenGroup struct {
	secret  types.NamespacedName
	members map[types.NamespacedName]*b24v1.Portal
}

// Cached is Client for the objects that use a Portal: it skips reading the Secret and CA again
// while the Portal's generation is the one they were last resolved for. The Portal's own
// reconcile, which every change of its Secret or CA triggers, resolves them with Client; so a
// ChatBot or Chat reconcile costs no API reads for credentials.
func (p *Portals) Cached(ctx context.Context, portal *b24v1.Portal) (*bitrix.Client, error) {
	c, _, err := p.CachedIdentity(ctx, portal)
	return c, err
}

// CachedIdentity is Cached that also returns the identity the client acts as.
func (p *Portals) CachedIdentity(ctx context.Context, portal *b24v1.Portal) (*bitrix.Client, Identity, error) {
	key := client.ObjectKeyFromObject(portal)
	p.mu.Lock()
	pc := p.clients[key]
	p.mu.Unlock()
	if pc == nil || pc.generation != portal.Generation {
		if _, err := p.Client(ctx, portal); err != nil {
			return nil, Identity{}, err
		}
		p.mu.Lock()
		pc = p.clients[key]
		p.mu.Unlock()
	}
	return pc.client, pc.identity, nil
}

// IdentityOf returns the identity of the Portal's client as last built, false when none is.
func (p *Portals) IdentityOf(portal *b24v1.Portal) (Identity, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := p.clients[client.ObjectKeyFromObject(portal)]
	if pc == nil {
		return Identity{}, false
	}
	return pc.identity, true
}

// Client returns the Portal's client, building it when needed. The error is an *managed.Error
// (DependencyNotReady for a missing Secret, InvalidSpec for a bad one).
func (p *Portals) Client(ctx context.Context, portal *b24v1.Portal) (*bitrix.Client, error) {
	creds, err := p.resolve(ctx, portal)
	if err != nil {
		return nil, err
	}
	key := client.ObjectKeyFromObject(portal)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients == nil {
		p.clients = map[types.NamespacedName]*portalClient{}
	}
	if pc, ok := p.clients[key]; ok && pc.fingerprint == creds.fingerprint {
		// An OAuth client keeps its own rotated tokens; it is rebuilt only when someone
		// else (a new authorization) put a different refresh token into the Secret.
		if creds.oauth == nil || creds.oauth.RefreshToken == pc.client.Tokens().RefreshToken || pc.ownRefreshTokens[creds.oauth.RefreshToken] {
			pc.generation = portal.Generation
			return pc.client, nil
		}
	}
	if pc := p.clients[key]; pc != nil {
		pc.leave(key)
	}
	if creds.oauth != nil {
		if pc := p.joinShared(key, portal, creds); pc != nil {
			return pc.client, nil
		}
	}
	pc := &portalClient{fingerprint: creds.fingerprint, generation: portal.Generation, identity: creds.identity}
	host := rules.PortalHost(portal.Spec.URL)
	opts := append(slices.Clip(p.Options),
		bitrix.WithLimiter(p.limiterFor(portal)),
		bitrix.WithCircuit(p.circuitOf(host)),
		bitrix.WithPortalLabel(host),
	)
	if p.HTTPTimeout > 0 {
		opts = append(opts, bitrix.WithRequestTimeout(p.HTTPTimeout))
	}
	if len(creds.ca) > 0 {
		opts = append(opts, bitrix.WithCABundle(creds.ca))
	}
	if creds.webhookURL != "" {
		opts = append(opts, bitrix.WithWebhook(creds.webhookURL, creds.identity.current))
	} else {
		o := portal.Spec.Auth.OAuth
		tokenURL := bitrix.DefaultTokenURL
		if o.TokenURL != nil {
			tokenURL = *o.TokenURL
		}
		pc.ownRefreshTokens = map[string]bool{creds.oauth.RefreshToken: true}
		pc.group = &tokenGroup{secret: types.NamespacedName{Namespace: portal.Namespace, Name: o.SecretRef.Name},
			members: map[types.NamespacedName]*b24v1.Portal{key: ownerOf(portal)}}
		store := &ownedTokenStore{c: p.Writer, seed: creds.seed, owners: func() []*b24v1.Portal { return p.owners(pc.group) },
			saved: func(refreshToken string) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if len(pc.ownRefreshTokens) >= maxOwnRefreshTokens {
					clear(pc.ownRefreshTokens) // only the recent ones can still be in the Secret
				}
				pc.ownRefreshTokens[refreshToken] = true
			}}
		opts = append(opts, bitrix.WithOAuth(portal.Spec.URL, o.ClientID, creds.clientSecret, tokenURL, *creds.oauth, store))
	}
	c, err := bitrix.New(opts...)
	if err != nil {
		return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "build the Bitrix24 client: %v", err)
	}
	pc.client = c
	p.clients[key] = pc
	return c, nil
}

// circuitOf is the circuit breaker of a portal host, shared by every client of the host (a
// host that does not answer does not answer any application). Called with p.mu held.
func (p *Portals) circuitOf(host string) *bitrix.Circuit {
	if p.circuits == nil {
		p.circuits = map[string]*bitrix.Circuit{}
	}
	c, ok := p.circuits[host]
	if !ok {
		c = bitrix.NewCircuit(p.Circuit)
		p.circuits[host] = c
	}
	return c
}

// Forget drops a Portal's client.
func (p *Portals) Forget(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc := p.clients[key]; pc != nil {
		pc.leave(key)
	}
	delete(p.clients, key)
	delete(p.lists, key)
}

type credentials struct {
	webhookURL   string
	clientSecret string
	oauth        *bitrix.Tokens
	// seed identifies the authorization in the user's Secret (see SeedAnnotation).
	seed        string
	ca          []byte
	fingerprint string
	identity    Identity
}

// resolve reads the Portal's Secret and CA, validating them.
func (p *Portals) resolve(ctx context.Context, portal *b24v1.Portal) (*credentials, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", portal.Spec.URL, rules.ClientID(portal))
	creds := credentials{identity: Identity{url: portal.Spec.URL, AppKey: rules.ApplicationKey(portal)}}

	if src := portal.Spec.CABundle; src != nil {
		ca, err := readConfigMapKey(ctx, p.Reader, portal.Namespace, src.ConfigMapKeyRef)
		if err != nil {
			return nil, err
		}
		if len(strings.TrimSpace(string(ca))) > 0 {
			if err := checkPEM(ca); err != nil {
				return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "caBundle: ConfigMap %s key %s: %v", src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, err)
			}
			creds.ca = ca
		}
		h.Write(creds.ca)
	}

	switch auth := portal.Spec.Auth; {
	case auth.Webhook != nil:
		sec, err := readSecret(ctx, p.Reader, portal.Namespace, auth.Webhook.SecretRef.Name)
		if err != nil {
			return nil, err
		}
		raw := strings.TrimSpace(string(sec.Data[refs.WebhookURLSecretKey]))
		if raw == "" {
			return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s has no key %s", sec.Name, refs.WebhookURLSecretKey)
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			// The value is a credential: never echo it.
			return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s key %s is not an https webhook URL", sec.Name, refs.WebhookURLSecretKey)
		}
		if rules.PortalHost(u.Scheme+"://"+u.Host) != rules.PortalHost(portal.Spec.URL) {
			// Neither the host nor anything else of the value is told.
			return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s key %s is a webhook URL of another host than spec.url", sec.Name, refs.WebhookURLSecretKey)
		}
		creds.webhookURL = raw
		h.Write([]byte(raw))
		id, err := webhookIdentity(portal, sec)
		if err != nil {
			return nil, err
		}
		creds.identity = id
		fmt.Fprintf(h, "\x00%s\x00%s", id.current, id.previous)
	case auth.OAuth != nil:
		sec, err := readSecret(ctx, p.Reader, portal.Namespace, auth.OAuth.SecretRef.Name)
		if err != nil {
			return nil, err
		}
		creds.clientSecret = string(sec.Data[refs.OAuthClientSecretKey])
		t := tokensOf(sec)
		if creds.clientSecret == "" || t.RefreshToken == "" {
			return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s needs the keys %s and %s", sec.Name, refs.OAuthClientSecretKey, refs.OAuthRefreshTokenKey)
		}
		// The tokens rotated since are kept in the operator's own Secret.
		creds.seed = seedOf(t.RefreshToken)
		kept, err := p.keptTokens(ctx, portal, sec.Name, creds.seed)
		if err != nil {
			return nil, err
		}
		if kept != nil {
			t = *kept
		}
		creds.oauth = &t
		h.Write([]byte(creds.clientSecret))
		h.Write([]byte(creds.seed))
		if auth.OAuth.TokenURL != nil {
			h.Write([]byte(*auth.OAuth.TokenURL))
		}
	}
	creds.fingerprint = hex.EncodeToString(h.Sum(nil))
	return &creds, nil
}

// webhookIdentity reads the webhook identity: spec.auth.webhook.clientId or the Secret's key
// clientId (exactly one), and the Secret's previousClientId. No message tells a value.
func webhookIdentity(portal *b24v1.Portal, sec *corev1.Secret) (Identity, error) {
	id := Identity{url: portal.Spec.URL}
	inSecret := strings.TrimSpace(string(sec.Data[refs.WebhookClientIDSecretKey]))
	spec := portal.Spec.Auth.Webhook.ClientID
	switch {
	case spec != "" && inSecret != "":
		return id, managed.Stalled(b24v1.ReasonInvalidSpec, "the webhook identity is set twice, in spec.auth.webhook.clientId and in key %s of Secret %s: keep exactly one",
			refs.WebhookClientIDSecretKey, sec.Name)
	case spec == "" && inSecret == "":
		return id, managed.Stalled(b24v1.ReasonInvalidSpec, "the webhook identity is missing: set spec.auth.webhook.clientId, or key %s of Secret %s",
			refs.WebhookClientIDSecretKey, sec.Name)
	case spec != "":
		id.current, id.AppKey = spec, rules.IdentityKey(portal.Spec.URL, spec, false)
	default:
		if !validClientID(inSecret) {
			return id, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s key %s must be 1 to 128 of the characters A-Z a-z 0-9 . _ -",
				sec.Name, refs.WebhookClientIDSecretKey)
		}
		id.current, id.AppKey = inSecret, rules.IdentityKey(portal.Spec.URL, inSecret, true)
	}
	if prev := strings.TrimSpace(string(sec.Data[refs.WebhookPreviousClientIDSecretKey])); prev != "" {
		if !validClientID(prev) {
			return id, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s key %s must be 1 to 128 of the characters A-Z a-z 0-9 . _ -",
				sec.Name, refs.WebhookPreviousClientIDSecretKey)
		}
		if prev != id.current {
			id.previous = prev
		}
	}
	return id, nil
}

func checkPEM(b []byte) error {
	block, _ := pem.Decode(b)
	if block == nil {
		return fmt.Errorf("no PEM certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return fmt.Errorf("not a valid certificate")
	}
	return nil
}

func readSecret(ctx context.Context, r client.Reader, ns, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, managed.Waiting(b24v1.ReasonDependencyNotReady, "Secret %s not found", name)
		}
		if me := (*managed.Error)(nil); errors.As(err, &me) {
			return nil, me // the Secret lacks the credentials label
		}
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "read Secret %s: %v", name, err)
	}
	return &s, nil
}

// readSecretKey reads one key of a Secret.
func readSecretKey(ctx context.Context, r client.Reader, ns string, ref b24v1.KeyReference) ([]byte, error) {
	s, err := readSecret(ctx, r, ns, ref.Name)
	if err != nil {
		return nil, err
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s has no key %s", ref.Name, ref.Key)
	}
	return v, nil
}

// readConfigMapKey reads one key of a ConfigMap, from binaryData or data.
func readConfigMapKey(ctx context.Context, r client.Reader, ns string, ref b24v1.KeyReference) ([]byte, error) {
	var cm corev1.ConfigMap
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, managed.Waiting(b24v1.ReasonDependencyNotReady, "ConfigMap %s not found", ref.Name)
		}
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "read ConfigMap %s: %v", ref.Name, err)
	}
	if v, ok := cm.BinaryData[ref.Key]; ok {
		return v, nil
	}
	if v, ok := cm.Data[ref.Key]; ok {
		return []byte(v), nil
	}
	return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "ConfigMap %s has no key %s", ref.Name, ref.Key)
}

// maxOwnRefreshTokens bounds portalClient.ownRefreshTokens (one token per hour of uptime).
const maxOwnRefreshTokens = 16

// holdRefs puts (or, with hold false, takes) the in-use finalizer on the Secret and ConfigMap
// a Portal reads.
func holdRefs(ctx context.Context, r client.Reader, c client.Client, obj client.Object, hold bool) error {
	for _, name := range refs.Secrets(obj) {
		if err := holdOne(ctx, r, c, &corev1.Secret{}, types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}, hold); err != nil {
			return err
		}
	}
	for _, name := range refs.ConfigMaps(obj) {
		if err := holdOne(ctx, r, c, &corev1.ConfigMap{}, types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}, hold); err != nil {
			return err
		}
	}
	return nil
}

// refsHeld says whether the Secret and ConfigMap a Portal reads carry the in-use finalizer
// (or do not exist, or are being deleted: then there is nothing to hold). It only reads.
func refsHeld(ctx context.Context, r client.Reader, p *b24v1.Portal) (bool, error) {
	check := func(obj client.Object, name string) (bool, error) {
		if err := r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: name}, obj); err != nil {
			return client.IgnoreNotFound(err) == nil, client.IgnoreNotFound(err)
		}
		return !obj.GetDeletionTimestamp().IsZero() || controllerutil.ContainsFinalizer(obj, InUseFinalizer), nil
	}
	for _, name := range refs.Secrets(p) {
		if ok, err := check(&corev1.Secret{}, name); !ok || err != nil {
			return false, err
		}
	}
	for _, name := range refs.ConfigMaps(p) {
		if ok, err := check(&corev1.ConfigMap{}, name); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

func holdOne(ctx context.Context, r client.Reader, c client.Client, obj client.Object, key types.NamespacedName, hold bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.Get(ctx, key, obj); err != nil {
			return client.IgnoreNotFound(err)
		}
		orig := obj.DeepCopyObject().(client.Object)
		var changed bool
		if hold {
			if !obj.GetDeletionTimestamp().IsZero() {
				return nil // a finalizer cannot be added to an object being deleted
			}
			changed = controllerutil.AddFinalizer(obj, InUseFinalizer)
		} else {
			changed = controllerutil.RemoveFinalizer(obj, InUseFinalizer)
		}
		if !changed {
			return nil
		}
		// A patch of the finalizers alone: the user's Secret is otherwise left as written.
		return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
	})
}

// authFresh says the Portal's current client passed the auth check within maxAge.
func (p *Portals) authFresh(portal *b24v1.Portal, c *bitrix.Client, maxAge time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := p.clients[client.ObjectKeyFromObject(portal)]
	return pc != nil && pc.client == c && !pc.checkedAt.IsZero() && time.Since(pc.checkedAt) < maxAge
}

// markAuthChecked records that the Portal's client passed the auth check, and tunes its host's
// shared rate limiter to the Portal's spec.rateLimit: only verified credentials may.
func (p *Portals) markAuthChecked(portal *b24v1.Portal, c *bitrix.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc := p.clients[client.ObjectKeyFromObject(portal)]; pc != nil && pc.client == c {
		pc.checkedAt = time.Now()
		rps, burst := rateOf(portal.Spec.RateLimit, bitrix.DefaultRequestsPerSecond, bitrix.DefaultBurst)
		p.limiters.get(rules.PortalHost(portal.Spec.URL), rps, burst, bitrix.NewLimiter)
	}
}

// limiterFor is the shared rate limiter of the Portal's host. A verified Portal (rules.Verified)
// tunes it to its spec.rateLimit; any other joins it as it is: a Portal with made-up
// credentials must not retune the bucket every application on the host shares. When there is
// no bucket yet, an unverified Portal (a new one, before its first auth check) starts it at
// the stricter of its spec.rateLimit and the defaults, never looser, so its own first calls
// keep to its limit; markAuthChecked tunes it once the credentials pass. Called with p.mu held.
func (p *Portals) limiterFor(portal *b24v1.Portal) *rate.Limiter {
	host := rules.PortalHost(portal.Spec.URL)
	rps, burst := rateOf(portal.Spec.RateLimit, bitrix.DefaultRequestsPerSecond, bitrix.DefaultBurst)
	if rules.Verified(portal) {
		return p.limiters.get(host, rps, burst, bitrix.NewLimiter)
	}
	return p.limiters.join(host, min(rps, bitrix.DefaultRequestsPerSecond), min(burst, bitrix.DefaultBurst), bitrix.NewLimiter)
}
