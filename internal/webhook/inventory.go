package webhook

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

// Indexes registers the field indexes admission reads through on idx (the cache the webhook
// reads). Indexes the controllers register too (refs.IndexPortalRef) are shared.
func Indexes(ctx context.Context, idx client.FieldIndexer) error {
	for _, i := range indexes() {
		if err := refs.Register(ctx, idx, i.obj, i.field, i.extract); err != nil {
			return fmt.Errorf("index %T by %s: %w", i.obj, i.field, err)
		}
	}
	return nil
}

type index struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

func indexes() []index {
	return []index{
		{&b24v1.Portal{}, refs.IndexApplication, func(o client.Object) []string { return []string{rules.ApplicationKey(o.(*b24v1.Portal))} }},
		{&b24v1.ChatBot{}, refs.IndexPortalRef, func(o client.Object) []string { return []string{o.(*b24v1.ChatBot).Spec.PortalRef.Name} }},
		{&b24v1.ChatBot{}, refs.IndexCode, func(o client.Object) []string { return []string{o.(*b24v1.ChatBot).Spec.Code} }},
		{&b24v1.ChatBot{}, refs.IndexBotID, botIDs},
		{&b24v1.ChatBot{}, refs.IndexRegisteredApplication, func(o client.Object) []string {
			if b := o.(*b24v1.ChatBot); b.Status.BotID != 0 && b.Status.ApplicationKey != "" {
				return []string{b.Status.ApplicationKey}
			}
			return nil
		}},
		{&b24v1.Chat{}, refs.IndexChatID, chatIDs},
		{&b24v1.Chat{}, refs.IndexChatEntity, func(o client.Object) []string { return []string{rules.ChatEntityKey(o.(*b24v1.Chat))} }},
	}
}

// chatIDs are the remote chat ids a Chat adopts or manages.
func chatIDs(o client.Object) []string {
	c := o.(*b24v1.Chat)
	return remoteIDs(chatAdoptID(c), c.Status.ChatID)
}

// botIDs are the remote bot ids a ChatBot adopts or manages.
func botIDs(o client.Object) []string {
	b := o.(*b24v1.ChatBot)
	return remoteIDs(adoptID(b), b.Status.BotID)
}

// remoteIDs are the index values of an object's adopted and managed remote ids (0: none).
func remoteIDs(adopted, managed int64) []string {
	var out []string
	for _, id := range []int64{adopted, managed} {
		if id != 0 && (len(out) == 0 || out[0] != strconv.FormatInt(id, 10)) {
			out = append(out, strconv.FormatInt(id, 10))
		}
	}
	return out
}

// inventory is what one admission knows of the cluster: the Portals and ChatBots it looked
// up, read from the manager's cache through field indexes (a few objects per request, never
// a list of every object of a kind), plus the bots this replica admitted that the cache does
// not hold yet.
//
// The cache can lag behind the API server by the time a watch event takes. The rules stay
// safe under that lag: a bot admitted by this replica counts from its admission on (pending);
// a lag can only hide a change made a moment ago elsewhere, the same race two replicas of
// the webhook always had; and the controllers, which decide on what is stored, are the final
// authority for every rule.
type inventory struct {
	ctx    context.Context
	reader client.Reader
	// portals memoizes Portal lookups (nil: not found).
	portals map[types.NamespacedName]*b24v1.Portal
	// pending are the bots this replica admitted that the cache does not hold yet.
	pending map[types.NamespacedName]*b24v1.ChatBot
	// err is the first read error; every answer built after it is discarded.
	err error
}

func newInventory(ctx context.Context, r client.Reader) *inventory {
	return &inventory{ctx: ctx, reader: r, portals: map[types.NamespacedName]*b24v1.Portal{}, pending: map[types.NamespacedName]*b24v1.ChatBot{}}
}

func (inv *inventory) fail(err error) {
	if inv.err == nil {
		inv.err = err
	}
}

// getPortal reads a Portal (nil while it does not exist).
func (inv *inventory) getPortal(key types.NamespacedName) *b24v1.Portal {
	if p, ok := inv.portals[key]; ok {
		return p
	}
	var p b24v1.Portal
	if err := inv.reader.Get(inv.ctx, key, &p); err != nil {
		if !apierrors.IsNotFound(err) {
			inv.fail(fmt.Errorf("get Portal %s: %w", key, err))
		}
		inv.portals[key] = nil
		return nil
	}
	inv.portals[key] = &p
	return &p
}

// portalOf is the Portal a ChatBot names, or nil while it does not exist.
func (inv *inventory) portalOf(b *b24v1.ChatBot) *b24v1.Portal {
	return inv.getPortal(types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.PortalRef.Name})
}

// applicationOf is the application key a ChatBot holds a place in (rules.ApplicationOf): the
// other objects a rule compares against count only when their Portal is verified.
func (inv *inventory) applicationOf(b *b24v1.ChatBot) string {
	return rules.ApplicationOf(b, inv.portalOf(b))
}

// declaredApplicationOf is the application the ChatBot under admission asks for, its Portal
// verified or not (rules.DeclaredApplicationOf).
func (inv *inventory) declaredApplicationOf(b *b24v1.ChatBot) string {
	return rules.DeclaredApplicationOf(b, inv.portalOf(b))
}

// hostOf is the portal host the ChatBot under admission asks for, "" when unknown.
func (inv *inventory) hostOf(b *b24v1.ChatBot) string {
	if p := inv.portalOf(b); p != nil {
		// Known even while the identity is in the Portal's Secret and no key is recorded.
		return rules.PortalHost(p.Spec.URL)
	}
	return rules.HostOfApplication(inv.declaredApplicationOf(b))
}

// listBots lists the ChatBots matching opts, with the pending bots that match too (keep).
func (inv *inventory) listBots(keep func(*b24v1.ChatBot) bool, opts ...client.ListOption) []*b24v1.ChatBot {
	var l b24v1.ChatBotList
	if err := inv.reader.List(inv.ctx, &l, opts...); err != nil {
		inv.fail(fmt.Errorf("list ChatBots: %w", err))
		return nil
	}
	out := make([]*b24v1.ChatBot, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, &l.Items[i])
	}
	for _, b := range inv.pending {
		if keep(b) {
			out = append(out, b)
		}
	}
	return out
}

// withCode lists the ChatBots with a code, except the one named.
func (inv *inventory) withCode(code string, except types.NamespacedName) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	for _, b := range inv.listBots(func(b *b24v1.ChatBot) bool { return b.Spec.Code == code }, client.MatchingFields{refs.IndexCode: code}) {
		if client.ObjectKeyFromObject(b) != except {
			out = append(out, b)
		}
	}
	return out
}

// botsOnHost lists the ChatBots with a code holding a place on a portal host, in any
// application, except the one named.
func (inv *inventory) botsOnHost(host, code string, except types.NamespacedName) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	for _, b := range inv.withCode(code, except) {
		if holdsPlace(b) && rules.HeldHost(b, inv.portalOf(b)) == host {
			out = append(out, b)
		}
	}
	sortBots(out)
	return out
}

// botsWithID lists the ChatBots holding a place on a portal host that adopt or manage the
// remote bot id, except the one named.
func (inv *inventory) botsWithID(host string, id int64, except types.NamespacedName) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	keep := func(b *b24v1.ChatBot) bool { return adoptID(b) == id || b.Status.BotID == id }
	for _, b := range inv.listBots(keep, client.MatchingFields{refs.IndexBotID: strconv.FormatInt(id, 10)}) {
		if client.ObjectKeyFromObject(b) != except && holdsPlace(b) && rules.HeldHost(b, inv.portalOf(b)) == host {
			out = append(out, b)
		}
	}
	sortBots(out)
	return out
}

func holdsPlace(b *b24v1.ChatBot) bool { return rules.HoldsPlace(b) }

// botsOf lists the ChatBots holding a place in an application, except the one named, in the
// order the controller admits them (rules.LimitHolders). The candidates are the bots of the
// application's Portals and the bots registered in it (whose Portal may be gone);
// rules.LimitHolders decides among them exactly as among all bots.
func (inv *inventory) botsOf(application string, except types.NamespacedName) []*b24v1.ChatBot {
	var portals b24v1.PortalList
	if err := inv.reader.List(inv.ctx, &portals, client.MatchingFields{refs.IndexApplication: application}); err != nil {
		inv.fail(fmt.Errorf("list Portals: %w", err))
		return nil
	}
	seen := map[types.NamespacedName]bool{except: true}
	var candidates []*b24v1.ChatBot
	add := func(bots []*b24v1.ChatBot) {
		for _, b := range bots {
			if key := client.ObjectKeyFromObject(b); !seen[key] {
				seen[key] = true
				candidates = append(candidates, b)
			}
		}
	}
	for i := range portals.Items {
		p := &portals.Items[i]
		inv.portals[client.ObjectKeyFromObject(p)] = p
		add(inv.listBots(func(b *b24v1.ChatBot) bool { return b.Namespace == p.Namespace && b.Spec.PortalRef.Name == p.Name },
			client.InNamespace(p.Namespace), client.MatchingFields{refs.IndexPortalRef: p.Name}))
	}
	add(inv.listBots(func(b *b24v1.ChatBot) bool { return b.Status.BotID != 0 && b.Status.ApplicationKey == application },
		client.MatchingFields{refs.IndexRegisteredApplication: application}))
	// Every bot admitted here and not cached yet, whichever Portal it names: that Portal may
	// not be cached yet either (a Portal and its bots applied together).
	pending := make([]*b24v1.ChatBot, 0, len(inv.pending))
	for _, b := range inv.pending {
		pending = append(pending, b)
	}
	add(pending)
	return rules.LimitHolders(application, candidates, inv.portalOf)
}

// botsOfPortal lists the ChatBots holding a place that name a Portal.
func (inv *inventory) botsOfPortal(portal types.NamespacedName) []*b24v1.ChatBot {
	var l b24v1.ChatBotList
	if err := inv.reader.List(inv.ctx, &l, client.InNamespace(portal.Namespace), client.MatchingFields{refs.IndexPortalRef: portal.Name}); err != nil {
		inv.fail(fmt.Errorf("list ChatBots: %w", err))
		return nil
	}
	var out []*b24v1.ChatBot
	for i := range l.Items {
		if b := &l.Items[i]; holdsPlace(b) {
			out = append(out, b)
		}
	}
	sortBots(out)
	return out
}

func sortBots(bots []*b24v1.ChatBot) {
	sort.Slice(bots, func(i, j int) bool { return rules.HoldsLimitBefore(bots[i], bots[j]) })
}

// otherNamespace is how a refusal names an object of another namespace than the requester's:
// its name, code and handler URLs are not told.
const otherNamespace = "an object in another namespace"

// describe names a bot as namespace/name, saying why it is special when it is; a bot of
// another namespace than ns is only "an object in another namespace".
func (inv *inventory) describe(b *b24v1.ChatBot, ns string) string {
	if b.Namespace != ns {
		return otherNamespace
	}
	s := b.Namespace + "/" + b.Name
	switch {
	case inv.pending[client.ObjectKeyFromObject(b)] != nil:
		s += " (being created)"
	case b.DeletionTimestamp != nil:
		s += " (being deleted)"
	}
	return s
}

// maxListed bounds how many names a refusal lists.
const maxListed = 10

// names lists bots for a requester in namespace ns: those of ns by name, the others counted.
func (inv *inventory) names(bots []*b24v1.ChatBot, ns string) string {
	parts := make([]string, 0, min(len(bots), maxListed)+2)
	var elsewhere, more int
	for _, b := range bots {
		switch {
		case b.Namespace != ns:
			elsewhere++
		case len(parts) == maxListed:
			more++
		default:
			parts = append(parts, inv.describe(b, ns))
		}
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("%d more", more))
	}
	switch {
	case elsewhere == 1:
		parts = append(parts, otherNamespace)
	case elsewhere > 1:
		parts = append(parts, fmt.Sprintf("%d objects in other namespaces", elsewhere))
	}
	if len(parts) > 1 {
		return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	return strings.Join(parts, "")
}

// keyedMutex is a mutex per key (a portal host); unused keys are dropped.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
