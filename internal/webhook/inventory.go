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

// applicationOf is the application key a ChatBot belongs to (rules.ApplicationOf).
func (inv *inventory) applicationOf(b *b24v1.ChatBot) string {
	return rules.ApplicationOf(b, inv.portalOf(b))
}

// hostOf is the portal host a ChatBot lives on, "" when unknown.
func (inv *inventory) hostOf(b *b24v1.ChatBot) string {
	if p := inv.portalOf(b); p != nil {
		return rules.PortalHost(p.Spec.URL)
	}
	host, _, _ := strings.Cut(inv.applicationOf(b), "/")
	return host
}

// botsOnHost lists the ChatBots holding a place on a portal host, in any application, except
// the one named.
func (inv *inventory) botsOnHost(host string, except types.NamespacedName) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	for _, b := range inv.bots {
		if client.ObjectKeyFromObject(b) != except && holdsPlace(b) && inv.hostOf(b) == host {
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

// describe names a bot as namespace/name, saying why it is special when it is.
func (inv *inventory) describe(b *b24v1.ChatBot) string {
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

func (inv *inventory) names(bots []*b24v1.ChatBot) string {
	parts := make([]string, 0, min(len(bots), maxListed)+1)
	for i, b := range bots {
		if i == maxListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(bots)-maxListed))
			break
		}
		parts = append(parts, inv.describe(b))
	}
	return strings.Join(parts, ", ")
}
