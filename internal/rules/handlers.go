package rules

import (
	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Handlers are a bot's resolved event handler URLs.
type Handlers struct {
	MessageAdd, WelcomeMessage, BotDelete, MessageUpdate, MessageDelete string
}

// ResolvedHandlers expands eventHandler into the per-event form, so two bots can be compared
// whichever form they use. Bitrix24 keeps one handler set per application.
func ResolvedHandlers(b *b24v1.ChatBot) Handlers {
	if h := b.Spec.EventHandler; h != nil {
		u := string(*h)
		return Handlers{u, u, u, u, u}
	}
	if hs := b.Spec.EventHandlers; hs != nil {
		out := Handlers{MessageAdd: string(hs.MessageAdd), WelcomeMessage: string(hs.WelcomeMessage), BotDelete: string(hs.BotDelete)}
		if hs.MessageUpdate != nil {
			out.MessageUpdate = string(*hs.MessageUpdate)
		}
		if hs.MessageDelete != nil {
			out.MessageDelete = string(*hs.MessageDelete)
		}
		return out
	}
	return Handlers{}
}

// Required are the handlers Bitrix24 requires to be the same for every bot of an application.
func (h Handlers) Required() [3]string { return [3]string{h.MessageAdd, h.WelcomeMessage, h.BotDelete} }

// ChatEntity is the chat's entity, defaulting to B24OPS and <namespace>/<name>.
// ChatEntityKey is a Chat's entity as one string ("type/id"), the value of its field index.
func ChatEntityKey(c *b24v1.Chat) string {
	t, id := ChatEntity(c)
	return t + "/" + id
}

func ChatEntity(c *b24v1.Chat) (entityType, entityID string) {
	if c.Spec.Entity != nil {
		return c.Spec.Entity.Type, c.Spec.Entity.ID
	}
	return DefaultEntityType, c.Namespace + "/" + c.Name
}
