package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

// otherNamespace is how a message names an object of another namespace: its name, code and
// handler URLs are not told (the status is readable by whoever may read the object).
const otherNamespace = "an object in another namespace"

// describeFor names bot for a reader of namespace ns.
func describeFor(bot *b24v1.ChatBot, ns string) string {
	if bot.Namespace != ns {
		return otherNamespace
	}
	return "ChatBot " + bot.Name
}

// cluster is one read, from the cache, of the ChatBots the rules across objects compare a bot
// against, and of their Portals.
type cluster struct {
	bots    []*b24v1.ChatBot
	portals map[types.NamespacedName]*b24v1.Portal
}

func (c *cluster) portalOf(b *b24v1.ChatBot) *b24v1.Portal {
	return c.portals[types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.PortalRef.Name}]
}

// readCluster lists the ChatBots with opts and every Portal. The lists are only read.
func readCluster(ctx context.Context, c client.Client, opts ...client.ListOption) (*cluster, error) {
	var portals b24v1.PortalList
	if err := c.List(ctx, &portals, client.UnsafeDisableDeepCopy); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list Portals: %v", err)
	}
	var list b24v1.ChatBotList
	if err := c.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list ChatBots: %v", err)
	}
	out := &cluster{portals: make(map[types.NamespacedName]*b24v1.Portal, len(portals.Items)), bots: make([]*b24v1.ChatBot, len(list.Items))}
	for i := range portals.Items {
		out.portals[client.ObjectKeyFromObject(&portals.Items[i])] = &portals.Items[i]
	}
	for i := range list.Items {
		out.bots[i] = &list.Items[i]
	}
	return out, nil
}

// checkHolders is the controller's final word on the rules the webhook checks at admission,
// which a ChatBot created before its Portal, or through another replica, skipped: a code
// another ChatBot holds on the portal (rules.CodeHolder) gives CodeTaken, and a bot not yet
// registered whose V1 event handlers differ from its application's (the first of
// rules.HandlerHolders) gives InvalidSpec. Either way nothing is called remotely: registering
// would take over, re-bind or later unregister a bot that another object, maybe another
// team's, holds. Whatever order the objects were created in, the one already registered, or
// else the older one, keeps its place.
func (e *chatBotExternal) checkHolders(ctx context.Context, b *b24v1.ChatBot) error {
	host := rules.PortalHost(e.portal.Spec.URL)
	same, err := readCluster(ctx, e.client, client.MatchingFields{refs.IndexCode: b.Spec.Code})
	if err != nil {
		return err
	}
	if h := rules.CodeHolder(b, host, same.bots, same.portalOf); h != nil {
		return managed.Stalled(b24v1.ReasonCodeTaken, "code %q is already used on the portal %s by %s, which holds it; a bot code must be unique on the portal, so choose another code",
			b.Spec.Code, host, describeFor(h, b.Namespace))
	}
	if b.Status.BotID != 0 || e.api != b24v1.BotAPIV1 {
		return nil
	}
	all, err := readCluster(ctx, e.client)
	if err != nil {
		return err
	}
	app := rules.ApplicationKey(e.portal)
	holders := rules.HandlerHolders(b, app, all.bots, all.portalOf)
	if len(holders) == 0 || rules.HoldsBefore(b, holders[0]) {
		return nil
	}
	first := holders[0]
	if rules.ResolvedHandlers(first).Required() == rules.ResolvedHandlers(b).Required() {
		return nil
	}
	what := describeFor(first, b.Namespace)
	if first.Namespace == b.Namespace {
		h := rules.ResolvedHandlers(first)
		what += fmt.Sprintf(" (messageAdd %q, welcomeMessage %q, botDelete %q)", h.MessageAdd, h.WelcomeMessage, h.BotDelete)
	}
	return managed.Stalled(b24v1.ReasonInvalidSpec, "the event handlers differ from those of %s: Bitrix24 keeps one set of event handlers per application (%s) and registering this bot would re-bind them for every bot of it; use the same URLs",
		what, app)
}

// heldElsewhere says another ChatBot holds the remote bot b recorded: it has the same bot id
// on the same application, or holds b's code on the portal (rules.CodeHolder). Deleting b must
// then leave the remote bot alone.
func heldElsewhere(ctx context.Context, c client.Client, b *b24v1.ChatBot, portal *b24v1.Portal) (bool, error) {
	same, err := readCluster(ctx, c, client.MatchingFields{refs.IndexCode: b.Spec.Code})
	if err != nil {
		return false, err
	}
	app := rules.ApplicationOf(b, portal)
	if app == "" {
		app = b.Status.ApplicationKey
	}
	for _, o := range same.bots {
		if o.Namespace == b.Namespace && o.Name == b.Name || !o.DeletionTimestamp.IsZero() {
			continue
		}
		if o.Status.BotID == b.Status.BotID && rules.ApplicationOf(o, same.portalOf(o)) == app {
			return true, nil
		}
	}
	return rules.CodeHolder(b, rules.HostOfApplication(app), same.bots, same.portalOf) != nil, nil
}

// chatHoldsBefore orders the Chats competing for one entity on a portal: one that has a remote
// chat goes first, then creation time, namespace and name.
func chatHoldsBefore(a, b *b24v1.Chat) bool {
	if (a.Status.ChatID != 0) != (b.Status.ChatID != 0) {
		return a.Status.ChatID != 0
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// chatEntityHolder is the Chat that holds ch's entity on the portal host, when it is not ch: a
// Chat whose ChatBot holds a place on the host (rules.HeldHost) with the same entity, first by
// chatHoldsBefore. sameChat also reports whether another Chat not being deleted records ch's
// remote chat id. The controller finds its chat by entity, so without this rule two objects
// (another namespace's, say) would manage, hand over and leave one remote chat.
func chatEntityHolder(ctx context.Context, c client.Client, ch *b24v1.Chat, host string) (holder *b24v1.Chat, sameChat bool, err error) {
	var list b24v1.ChatList
	if err := c.List(ctx, &list, client.MatchingFields{refs.IndexChatEntity: rules.ChatEntityKey(ch)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false, managed.Retryable(b24v1.ReasonRemoteError, "list Chats: %v", err)
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.Namespace == ch.Namespace && o.Name == ch.Name || (!o.DeletionTimestamp.IsZero() && o.Status.ChatID == 0) {
			continue
		}
		var bot b24v1.ChatBot
		if err := c.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.BotRef.Name}, &bot); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return nil, false, managed.Retryable(b24v1.ReasonRemoteError, "read ChatBot: %v", err)
			}
			continue
		}
		var portal b24v1.Portal
		pp := &portal
		if err := c.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: bot.Spec.PortalRef.Name}, pp); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return nil, false, managed.Retryable(b24v1.ReasonRemoteError, "read Portal: %v", err)
			}
			pp = nil
		}
		if rules.HeldHost(&bot, pp) != host {
			continue
		}
		if ch.Status.ChatID != 0 && o.Status.ChatID == ch.Status.ChatID && o.DeletionTimestamp.IsZero() {
			sameChat = true
		}
		if holder == nil || chatHoldsBefore(o, holder) {
			holder = o.DeepCopy()
		}
	}
	if holder != nil && chatHoldsBefore(ch, holder) {
		holder = nil
	}
	return holder, sameChat, nil
}

// describeChatFor names a Chat for a reader of namespace ns.
func describeChatFor(ch *b24v1.Chat, ns string) string {
	if ch.Namespace != ns {
		return otherNamespace
	}
	return "Chat " + ch.Name
}
