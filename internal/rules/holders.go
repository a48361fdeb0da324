package rules

import (
	"sort"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// HeldHost is the portal host a ChatBot holds a place on (the host of ApplicationOf), "" when
// it holds none.
func HeldHost(b *b24v1.ChatBot, portal *b24v1.Portal) string {
	return HostOfApplication(ApplicationOf(b, portal))
}

// HoldsBefore orders the ChatBots competing for one code or one application's handler set: a
// registered bot (status.botId) goes before one that is not, so an object created later can
// never take over a bot that is already registered, then HoldsLimitBefore.
func HoldsBefore(a, b *b24v1.ChatBot) bool {
	if (a.Status.BotID != 0) != (b.Status.BotID != 0) {
		return a.Status.BotID != 0
	}
	return HoldsLimitBefore(a, b)
}

// CodeHolder is the ChatBot that holds the code of bot on its portal host (host) when it is not
// bot itself, or nil. Bitrix24 looks a CODE up across the whole portal, so two objects with one
// code would manage one remote bot: the first by HoldsBefore keeps it, and the others must not
// register, adopt, update or unregister it. Only bots holding a place count (HeldHost: their
// Portal is verified, or they are registered).
func CodeHolder(bot *b24v1.ChatBot, host string, bots []*b24v1.ChatBot, portalOf func(*b24v1.ChatBot) *b24v1.Portal) *b24v1.ChatBot {
	if host == "" {
		return nil
	}
	var first *b24v1.ChatBot
	for _, o := range bots {
		if o.Namespace == bot.Namespace && o.Name == bot.Name {
			continue
		}
		if o.Spec.Code != bot.Spec.Code || !HoldsPlace(o) || HeldHost(o, portalOf(o)) != host {
			continue
		}
		if first == nil || HoldsBefore(o, first) {
			first = o
		}
	}
	if first == nil || HoldsBefore(bot, first) {
		return nil
	}
	return first
}

// HandlerHolders lists the V1 ChatBots of application app, other than bot, in HoldsBefore
// order: the first one's handlers are the application's. Only V1 bots count (V1Bot) that
// hold a place in app (ApplicationOf).
func HandlerHolders(bot *b24v1.ChatBot, app string, bots []*b24v1.ChatBot, portalOf func(*b24v1.ChatBot) *b24v1.Portal) []*b24v1.ChatBot {
	var out []*b24v1.ChatBot
	for _, o := range bots {
		if o.Namespace == bot.Namespace && o.Name == bot.Name {
			continue
		}
		if HoldsPlace(o) && V1Bot(o, portalOf(o)) && ApplicationOf(o, portalOf(o)) == app {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return HoldsBefore(out[i], out[j]) })
	return out
}

// V1Bot says a ChatBot is, or will be, registered through the V1 API: as recorded or
// declared, or (spec.api unset) because its Portal reported it has no imbot.v2. A bot whose
// API is not known yet is not held to the V1 rules.
func V1Bot(b *b24v1.ChatBot, portal *b24v1.Portal) bool {
	if api := b.KnownAPI(); api != "" {
		return api == b24v1.BotAPIV1
	}
	return portal != nil && portal.Status.V2Available != nil && !*portal.Status.V2Available
}
