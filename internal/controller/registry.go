package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

// Kind is one kind's entry in the registry: everything the manager wires for it.
type Kind struct {
	// Name is the kind, as in the API ("ChatBot").
	Name string
	// Object is an empty object of the kind.
	Object managed.Object
	// Indexes are the field indexes by which watches and dependents find objects of the kind
	// (besides the Secret and ConfigMap indexes every kind has).
	Indexes []Index
	// Webhook says admission validates the kind (internal/webhook.Kinds lists the same).
	Webhook bool
	// setup puts the kind's adapter on the loop and declares its watches.
	setup func(*setup) error
}

// Index is a field index on a kind.
type Index struct {
	Field   string
	Extract func(client.Object) []string
}

// Kinds is the registry: every kind the operator reconciles, in one list. Adding a kind means
// its types, one adapter file, and an entry here; cmd/manager's tests check the list against
// the API's kinds and the webhook's.
func Kinds() []Kind {
	return []Kind{
		{Name: "Portal", Object: &b24v1.Portal{}, Webhook: true, setup: (*setup).portal},
		{Name: "ChatBot", Object: &b24v1.ChatBot{}, Webhook: true, setup: (*setup).chatBot,
			Indexes: []Index{
				{refs.IndexPortalRef, func(o client.Object) []string { return []string{o.(*b24v1.ChatBot).Spec.PortalRef.Name} }},
				{refs.IndexCode, func(o client.Object) []string { return []string{o.(*b24v1.ChatBot).Spec.Code} }},
			}},
		{Name: "ChatApp", Object: &b24v1.ChatApp{}, Webhook: true, setup: (*setup).chatApp,
			Indexes: []Index{{refs.IndexBotRef, func(o client.Object) []string { return []string{o.(*b24v1.ChatApp).Spec.BotRef.Name} }}}},
		{Name: "Chat", Object: &b24v1.Chat{}, Webhook: true, setup: (*setup).chat,
			Indexes: []Index{
				{refs.IndexBotRef, func(o client.Object) []string { return []string{o.(*b24v1.Chat).Spec.BotRef.Name} }},
				{refs.IndexChatEntity, func(o client.Object) []string { return []string{rules.ChatEntityKey(o.(*b24v1.Chat))} }},
			}},
		{Name: "BotCommand", Object: &b24v1.BotCommand{}, Webhook: true, setup: (*setup).botCommand,
			Indexes: []Index{{refs.IndexBotRef, func(o client.Object) []string { return []string{o.(*b24v1.BotCommand).Spec.BotRef.Name} }}}},
		{Name: "Metabot", Object: &b24v1.Metabot{}, Webhook: true, setup: (*setup).metabot},
		{Name: "ScheduledJob", Object: &b24v1.ScheduledJob{}, Webhook: true, setup: (*setup).scheduledJob,
			Indexes: []Index{{refs.IndexMetabotRef, func(o client.Object) []string { return []string{o.(*b24v1.ScheduledJob).Spec.MetabotRef.Name} }}}},
	}
}

// setupIndexes registers every kind's field indexes.
func setupIndexes(mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	ctx := context.Background()
	for _, k := range Kinds() {
		all := append([]Index{
			{refs.IndexSecrets, refs.Secrets},
			{refs.IndexConfigMaps, refs.ConfigMaps},
		}, k.Indexes...)
		for _, i := range all {
			if err := refs.Register(ctx, idx, k.Object, i.Field, i.Extract); err != nil {
				return err
			}
		}
	}
	return nil
}
