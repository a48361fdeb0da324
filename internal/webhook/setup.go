// Package webhook is the operator's validating admission webhook: the rules that only make sense
// across objects (the bot limit of an application, unique bot codes, one event handler set per
// application, unique chat entities per portal, a Portal that keeps its application while bots
// use it), the requester's access to the Secrets an object makes the operator read, and the
// checks the schema can only approximate (cron expressions, time zones).
// Single-object rules live in the CRD schema, so they hold without the webhook too.
//
// The webhook reads the cluster from the manager's cache through field indexes (Indexes): an
// admission looks up the few objects its rules compare with, never lists every object of a
// kind, and makes no remote calls. A Secret an object references must be one its requester
// may get (SecretAccess, a SubjectAccessReview). References to objects that do not exist yet
// are allowed: GitOps tools apply in any order and the controllers wait. Deletes are always
// allowed.
package webhook

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// +kubebuilder:webhookconfiguration:mutating=false,name=b24-operator

// +kubebuilder:rbac:groups=b24ops.io,resources=portals;chatbots;chats;botcommands,verbs=get;list;watch

// Kind is a kind admission validates.
type Kind struct {
	Name     string
	register func(mgr ctrl.Manager, r readers) error
}

// readers are what the validators read: the cache, and the API server for the one lookup a
// lagging cache must not answer (a Portal applied a moment before its bots).
type readers struct {
	cache, live client.Reader
}

// Kinds lists every kind with a validating webhook (the controller registry marks the same).
func Kinds() []Kind {
	return []Kind{
		{"ChatBot", func(mgr ctrl.Manager, r readers) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.ChatBot{}).WithValidator(NewChatBotValidator(r.cache, r.live)).Complete()
		}},
		{"Chat", func(mgr ctrl.Manager, r readers) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.Chat{}).WithValidator(NewChatValidator(r.cache)).Complete()
		}},
		{"BotCommand", func(mgr ctrl.Manager, r readers) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.BotCommand{}).WithValidator(NewBotCommandValidator(r.live)).Complete()
		}},
		{"Portal", func(mgr ctrl.Manager, r readers) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.Portal{}).WithValidator(NewPortalValidator(r.cache, mgr.GetClient())).Complete()
		}},
		{"ChatApp", func(mgr ctrl.Manager, _ readers) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.ChatApp{}).WithValidator(ChatAppValidator{SecretAccess{Client: mgr.GetClient()}}).Complete()
		}},
		{"Metabot", func(mgr ctrl.Manager, _ readers) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.Metabot{}).WithValidator(MetabotValidator{SecretAccess{Client: mgr.GetClient()}}).Complete()
		}},
		{"ScheduledJob", func(mgr ctrl.Manager, _ readers) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.ScheduledJob{}).WithValidator(ScheduledJobValidator{}).Complete()
		}},
	}
}

// Setup registers the validating webhooks on the manager's webhook server, reading from the
// manager's cache.
func Setup(mgr ctrl.Manager) error {
	return SetupWithCache(mgr, mgr.GetCache())
}

// SetupWithCache is Setup reading from c: a cache of every Portal, ChatBot and Chat the
// rules span, for a manager whose own cache holds only a shard of them
// (--watch-label-selector). c must be started (mgr.Add) with the manager.
func SetupWithCache(mgr ctrl.Manager, c cache.Cache) error {
	if err := Indexes(context.Background(), c); err != nil {
		return err
	}
	r := readers{cache: c, live: mgr.GetAPIReader()}
	for _, k := range Kinds() {
		if err := k.register(mgr, r); err != nil {
			return fmt.Errorf("register %s webhook: %w", k.Name, err)
		}
	}
	return nil
}
