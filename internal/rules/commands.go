package rules

import (
	"sort"

	"k8s.io/apimachinery/pkg/types"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// HoldsCommandHandler reports whether a BotCommand takes part in its application's command
// handler: it names one and is not a deletion that never registered anything.
func HoldsCommandHandler(c *b24v1.BotCommand) bool {
	return c.Spec.EventHandler != nil && (c.DeletionTimestamp == nil || c.Status.CommandID != 0)
}

// HoldsHandlerBefore orders BotCommands for the one command handler of a V1 application: by
// creation time, then namespace, then name. The first one's eventHandler is the
// application's; the controller and the webhook both decide by this order.
func HoldsHandlerBefore(a, b *b24v1.BotCommand) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// CommandHandlerHolders lists the BotCommands of V1 bots in application app that name a
// command handler, in HoldsHandlerBefore order. appOf returns a command's application and
// whether its bot is a V1 bot.
func CommandHandlerHolders(app string, cmds []*b24v1.BotCommand, appOf func(*b24v1.BotCommand) (string, bool)) []*b24v1.BotCommand {
	var out []*b24v1.BotCommand
	for _, c := range cmds {
		if !HoldsCommandHandler(c) {
			continue
		}
		if a, v1 := appOf(c); v1 && a == app {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return HoldsHandlerBefore(out[i], out[j]) })
	return out
}

// V2Bot says a ChatBot is, or will be, registered through the V2 API (see V1Bot in holders.go).
func V2Bot(b *b24v1.ChatBot, portal *b24v1.Portal) bool {
	if api := b.KnownAPI(); api != "" {
		return api == b24v1.BotAPIV2
	}
	return portal != nil && portal.Status.V2Available != nil && *portal.Status.V2Available
}

// CommandApplications returns, for a BotCommand, the application of its bot and whether the
// bot is a V1 bot, from one read of the ChatBots and Portals.
func CommandApplications(bots []b24v1.ChatBot, portals []b24v1.Portal) func(*b24v1.BotCommand) (string, bool) {
	portalByKey := map[types.NamespacedName]*b24v1.Portal{}
	for i := range portals {
		portalByKey[types.NamespacedName{Namespace: portals[i].Namespace, Name: portals[i].Name}] = &portals[i]
	}
	botByKey := map[types.NamespacedName]*b24v1.ChatBot{}
	for i := range bots {
		botByKey[types.NamespacedName{Namespace: bots[i].Namespace, Name: bots[i].Name}] = &bots[i]
	}
	return func(c *b24v1.BotCommand) (string, bool) {
		b := botByKey[types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.BotRef.Name}]
		if b == nil {
			return "", false
		}
		p := portalByKey[types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.PortalRef.Name}]
		return ApplicationOf(b, p), V1Bot(b, p)
	}
}
