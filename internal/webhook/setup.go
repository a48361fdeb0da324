// Package webhook is the operator's validating admission webhook: the rules that only make sense
// across objects (the bot limit of an application, unique bot codes, one event handler set per
// application, unique chat entities per portal, a Portal that keeps its application while bots
// use it) and the checks the schema can only approximate (cron expressions, time zones).
// Single-object rules live in the CRD schema, so they hold without the webhook too.
//
// The webhook reads the cluster through the manager's API reader, never its cache, and makes no
// remote calls. References to objects that do not exist yet are allowed: GitOps tools apply in
// any order and the controllers wait. Deletes are always allowed.
package webhook

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// +kubebuilder:webhookconfiguration:mutating=false,name=b24-operator

// +kubebuilder:rbac:groups=b24ops.io,resources=portals;chatbots;chats;botcommands,verbs=get;list;watch

// Kind is a kind admission validates.
type Kind struct {
	Name     string
	register func(mgr ctrl.Manager) error
}

// Kinds lists every kind with a validating webhook (the controller registry marks the same).
func Kinds() []Kind {
	return []Kind{
		{"ChatBot", func(mgr ctrl.Manager) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.ChatBot{}).WithValidator(NewChatBotValidator(mgr.GetAPIReader())).Complete()
		}},
		{"Chat", func(mgr ctrl.Manager) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.Chat{}).WithValidator(NewChatValidator(mgr.GetAPIReader())).Complete()
		}},
		{"BotCommand", func(mgr ctrl.Manager) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.BotCommand{}).WithValidator(NewBotCommandValidator(mgr.GetAPIReader())).Complete()
		}},
		{"Portal", func(mgr ctrl.Manager) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.Portal{}).WithValidator(NewPortalValidator(mgr.GetAPIReader())).Complete()
		}},
		{"ScheduledJob", func(mgr ctrl.Manager) error {
			return ctrl.NewWebhookManagedBy(mgr, &b24v1.ScheduledJob{}).WithValidator(ScheduledJobValidator{}).Complete()
		}},
	}
}

// Setup registers the validating webhooks on the manager's webhook server.
func Setup(mgr ctrl.Manager) error {
	for _, k := range Kinds() {
		if err := k.register(mgr); err != nil {
			return fmt.Errorf("register %s webhook: %w", k.Name, err)
		}
	}
	return nil
}
