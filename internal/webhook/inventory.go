package webhook

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
)

// inventory is one read of every Portal and ChatBot in the cluster, straight from the API server
// (no informer cache): an admission decision made on a cache that lags behind would let a bot
// past the limit that a second ago was refused.
type inventory struct {
	portals map[types.NamespacedName]*b24v1.Portal
	bots    []*b24v1.ChatBot
	// pending marks bots this replica admitted that the API server did not list yet.
	pending map[types.NamespacedName]bool
}

func readInventory(ctx context.Context, r client.Reader) (*inventory, error) {
	var portals b24v1.PortalList
	if err := r.List(ctx, &portals); err != nil {
		return nil, fmt.Errorf("list Portals: %w", err)
	}
	var bots b24v1.ChatBotList
	if err := r.List(ctx, &bots); err != nil {
		return nil, fmt.Errorf("list ChatBots: %w", err)
	}
	inv := &inventory{
		portals: make(map[types.NamespacedName]*b24v1.Portal, len(portals.Items)),
		bots:    make([]*b24v1.ChatBot, 0, len(bots.Items)),
		pending: map[types.NamespacedName]bool{},
	}
	for i := range portals.Items {
		p := &portals.Items[i]
		inv.portals[client.ObjectKeyFromObject(p)] = p
	}
	for i := range bots.Items {
		inv.bots = append(inv.bots, &bots.Items[i])
	}
	return inv, nil
}

// portalOf is the Portal a ChatBot names, or nil while it does not exist.
func (inv *inventory) portalOf(b *b24v1.ChatBot) *b24v1.Portal {
	return inv.portals[types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.PortalRef.Name}]
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
	return rules.HostOfApplication(inv.declaredApplicationOf(b))
}

// botsOnHost lists the ChatBots holding a place on a portal host, in any application, except
// the one named.
func (inv *inventory) botsOnHost(host string, except types.NamespacedName) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	for _, b := range inv.bots {
		if client.ObjectKeyFromObject(b) != except && holdsPlace(b) && rules.HeldHost(b, inv.portalOf(b)) == host {
			out = append(out, b)
		}
	}
	sortBots(out)
	return out
}

func holdsPlace(b *b24v1.ChatBot) bool { return rules.HoldsPlace(b) }

// botsOf lists the ChatBots holding a place in an application, except the one named, in the
// order the controller admits them (rules.LimitHolders).
func (inv *inventory) botsOf(application string, except types.NamespacedName) []*b24v1.ChatBot {
	var others []*b24v1.ChatBot
	for _, b := range inv.bots {
		if client.ObjectKeyFromObject(b) != except {
			others = append(others, b)
		}
	}
	return rules.LimitHolders(application, others, inv.portalOf)
}

func (inv *inventory) botsOfPortal(portal types.NamespacedName) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	for _, b := range inv.bots {
		if b.Namespace == portal.Namespace && b.Spec.PortalRef.Name == portal.Name && holdsPlace(b) {
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
	case inv.pending[client.ObjectKeyFromObject(b)]:
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
