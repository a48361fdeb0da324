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

// +kubebuilder:rbac:groups=b24ops.io,resources=portals;chatbots;chats,verbs=get;list;watch

// Setup registers the validating webhooks on the manager's webhook server.
func Setup(mgr ctrl.Manager) error {
	r := mgr.GetAPIReader()
	if err := ctrl.NewWebhookManagedBy(mgr, &b24v1.ChatBot{}).WithValidator(NewChatBotValidator(r)).Complete(); err != nil {
		return fmt.Errorf("register ChatBot webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &b24v1.Chat{}).WithValidator(NewChatValidator(r)).Complete(); err != nil {
		return fmt.Errorf("register Chat webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &b24v1.Portal{}).WithValidator(NewPortalValidator(r)).Complete(); err != nil {
		return fmt.Errorf("register Portal webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &b24v1.ScheduledJob{}).WithValidator(ScheduledJobValidator{}).Complete(); err != nil {
		return fmt.Errorf("register ScheduledJob webhook: %w", err)
	}
	return nil
}
