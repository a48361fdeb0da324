package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/metabot"
)

// Metabots builds and caches one Metabot client per Metabot object, rebuilt when the object's
// spec or the content of its token Secret or CA ConfigMap changes, and one rate limiter per
// Metabot bot (endpoint), shared by every object that points at the same bot.
type Metabots struct {
	// Reader reads Secrets and ConfigMaps from the API server, never from a cache.
	Reader client.Reader
	// HTTPTimeout bounds each request.
	HTTPTimeout time.Duration
	// Options go to every client, before the Metabot's own.
	Options []metabot.Option

	mu       sync.Mutex
	clients  map[types.NamespacedName]*metabotClient
	limiters limiterSet
}

type metabotClient struct {
	fingerprint string
	client      *metabot.Client
	// generation is the Metabot's generation the client was last checked for; current says
	// no Secret or ConfigMap change was seen since.
	generation int64
	current    bool
}

// Client returns the Metabot object's client, building it when needed. It makes no remote
// call. The error is an *managed.Error (DependencyNotReady for a missing Secret, InvalidSpec for an
// unusable token or CA).
func (m *Metabots) Client(ctx context.Context, mb *b24v1.Metabot) (*metabot.Client, error) {
	token, ca, err := m.resolve(ctx, mb)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00", metabotURL(mb), mb.Spec.BotID, token)
	h.Write(ca)
	if rl := mb.Spec.RateLimit; rl != nil {
		fmt.Fprintf(h, "\x00%d/%d", rl.RequestsPerSecond, rl.Burst)
	}
	fp := hex.EncodeToString(h.Sum(nil))

	key := client.ObjectKeyFromObject(mb)
	m.mu.Lock()
	defer m.mu.Unlock()
	if mc, ok := m.clients[key]; ok && mc.fingerprint == fp {
		mc.generation, mc.current = mb.Generation, true
		return mc.client, nil
	}
	rps, burst := rateOf(mb.Spec.RateLimit, metabot.DefaultRequestsPerSecond, metabot.DefaultBurst)
	opts := append(slices.Clip(m.Options),
		metabot.WithLimiter(m.limiters.get(metabotURL(mb)+"#"+strconv.FormatInt(mb.Spec.BotID, 10), rps, burst, func(r float64, b int) *rate.Limiter { return rate.NewLimiter(rate.Limit(r), b) })),
		metabot.WithLabel(key.String()),
	)
	if m.HTTPTimeout > 0 {
		opts = append(opts, metabot.WithTimeout(m.HTTPTimeout))
	}
	if len(ca) > 0 {
		opts = append(opts, metabot.WithCABundle(ca))
	}
	// The /api/v1 prefix is the likely path, not a documented one: a URL with a path of its
	// own names the API root itself (self-hosted installations, another version).
	if u, err := url.Parse(metabotURL(mb)); err == nil && strings.Trim(u.Path, "/") != "" {
		opts = append(opts, metabot.WithAPIPath(""))
	}
	c, err := metabot.New(metabotURL(mb), mb.Spec.BotID, token, opts...)
	if err != nil {
		// metabot.New never puts the token into its errors.
		return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "build the Metabot client: %v", err)
	}
	if m.clients == nil {
		m.clients = map[types.NamespacedName]*metabotClient{}
	}
	m.clients[key] = &metabotClient{fingerprint: fp, client: c, generation: mb.Generation, current: true}
	return c, nil
}

// Cached is Client without reading the Secret and ConfigMap again while nothing changed:
// every ScheduledJob send would otherwise cost two more API reads. Invalidate, called for
// every change of a Secret or ConfigMap a Metabot reads, and a new generation of the
// Metabot make the next call read them.
func (m *Metabots) Cached(ctx context.Context, mb *b24v1.Metabot) (*metabot.Client, error) {
	m.mu.Lock()
	mc := m.clients[client.ObjectKeyFromObject(mb)]
	if mc != nil && mc.current && mc.generation == mb.Generation {
		m.mu.Unlock()
		return mc.client, nil
	}
	m.mu.Unlock()
	return m.Client(ctx, mb)
}

// Invalidate makes the next Cached call for the Metabot read its Secret and ConfigMap.
func (m *Metabots) Invalidate(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mc := m.clients[key]; mc != nil {
		mc.current = false
	}
}

// Forget drops a Metabot object's client.
func (m *Metabots) Forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.clients, key)
}

// resolve reads the token and the CA bundle, validating them.
func (m *Metabots) resolve(ctx context.Context, mb *b24v1.Metabot) (token string, ca []byte, err error) {
	ref := mb.Spec.TokenSecretRef
	raw, err := readSecretKey(ctx, m.Reader, mb.Namespace, ref)
	if err != nil {
		return "", nil, err
	}
	// A token pasted with a trailing newline is still the token.
	token = strings.TrimSpace(string(raw))
	if token == "" {
		return "", nil, managed.Stalled(b24v1.ReasonInvalidSpec, "Secret %s key %s is empty", ref.Name, ref.Key)
	}
	if src := mb.Spec.CABundle; src != nil {
		b, err := readConfigMapKey(ctx, m.Reader, mb.Namespace, src.ConfigMapKeyRef)
		if err != nil {
			return "", nil, err
		}
		// An empty bundle means the system roots, as for a Portal.
		if len(bytes.TrimSpace(b)) > 0 {
			if err := checkPEM(b); err != nil {
				return "", nil, managed.Stalled(b24v1.ReasonInvalidSpec, "caBundle: ConfigMap %s key %s: %v", src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, err)
			}
			ca = b
		}
	}
	return token, ca, nil
}

// metabotURL is spec.url or the public platform.
func metabotURL(mb *b24v1.Metabot) string {
	if mb.Spec.URL != nil && *mb.Spec.URL != "" {
		return string(*mb.Spec.URL)
	}
	return metabot.DefaultBaseURL
}
