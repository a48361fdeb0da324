package webhook

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/rules"
)

// +kubebuilder:webhook:path=/validate-b24ops-io-v1alpha1-portal,mutating=false,failurePolicy=fail,sideEffects=None,groups=b24ops.io,resources=portals,verbs=create;update,versions=v1alpha1,name=vportal.b24ops.io,admissionReviewVersions=v1,timeoutSeconds=10,serviceName=b24-operator-webhook,serviceNamespace=b24-operator-system

// PortalValidator refuses a Portal whose credentials Secret the requester may not get
// (SecretAccess), and moving a Portal to another application while ChatBots use it: their
// remote bots belong to the old application, and the controller could neither update nor
// unregister them through the new one.
type PortalValidator struct {
	reader  client.Reader
	secrets SecretAccess
}

// NewPortalValidator reads ChatBots through r, the manager's cache with the field indexes of
// Indexes, and reviews Secret access through c.
func NewPortalValidator(r client.Reader, c client.Client) *PortalValidator {
	return &PortalValidator{reader: r, secrets: SecretAccess{Client: c}}
}

var _ admission.Validator[*b24v1.Portal] = &PortalValidator{}

// ValidateCreate allows every Portal whose Secret the requester may read: two Portals of one
// application share its bot limit, which the ChatBot rules count.
func (v *PortalValidator) ValidateCreate(ctx context.Context, portal *b24v1.Portal) (admission.Warnings, error) {
	return nil, v.secrets.Check(ctx, portal, nil)
}

// ValidateUpdate refuses a new Secret the requester may not read, and a change of host or
// client id while ChatBots use the Portal.
func (v *PortalValidator) ValidateUpdate(ctx context.Context, old, portal *b24v1.Portal) (admission.Warnings, error) {
	if portal.DeletionTimestamp == nil {
		if err := v.secrets.Check(ctx, portal, old); err != nil {
			return nil, err
		}
	}
	from, to := rules.ApplicationKey(old), rules.ApplicationKey(portal)
	if portal.DeletionTimestamp != nil || from == to {
		return nil, nil
	}
	inv := newInventory(ctx, v.reader)
	bots := inv.botsOfPortal(client.ObjectKeyFromObject(portal))
	if inv.err != nil {
		return nil, readError(inv.err)
	}
	if len(bots) == 0 {
		return nil, nil
	}
	if rotation(old, portal) {
		// A new webhook identity on the same portal: the controller moves the V2 bots onto it
		// (imbot.v2.Bot.update fields.botToken); V1 bots have no such move.
		var v1 []*b24v1.ChatBot
		for _, b := range bots {
			if b.KnownAPI() == b24v1.BotAPIV1 {
				v1 = append(v1, b)
			}
		}
		path := clientIDPath(portal)
		switch id := portal.Spec.Auth.Webhook.ClientID; {
		case len(v1) > 0:
			return nil, invalid(portal, field.ErrorList{field.Forbidden(path, fmt.Sprintf(
				"this change moves the Portal from application %s to %s, and these ChatBots are V1 bots, and only V2 bots can move to a new webhook identity: %s; "+
					"delete them first, or create a new Portal for %s", from, to, inv.names(v1, portal.Namespace), to))})
		case len(id) > bitrix.MaxBotTokenLength:
			return nil, invalid(portal, field.ErrorList{field.Invalid(path, "(redacted)", fmt.Sprintf(
				"the V2 bots of this Portal would be moved onto this clientId, and imbot.v2 accepts a bot token of at most %d characters", bitrix.MaxBotTokenLength))})
		}
		return admission.Warnings{fmt.Sprintf("the V2 bots of this Portal (%s) will be moved from application %s to %s; until then the old identity must stay valid", inv.names(bots, portal.Namespace), from, to)}, nil
	}
	path := field.NewPath("spec", "url")
	if rules.PortalHost(old.Spec.URL) == rules.PortalHost(portal.Spec.URL) {
		path = clientIDPath(portal)
	}
	return nil, invalid(portal, field.ErrorList{field.Forbidden(path, fmt.Sprintf(
		"this change moves the Portal from application %s to %s while ChatBots use it: %s; their bots are registered in %s, so delete them first, or create a new Portal for %s",
		from, to, inv.names(bots, portal.Namespace), from, to))})
}

// ValidateDelete allows every delete: the Portal's finalizer keeps it until its bots are gone.
func (v *PortalValidator) ValidateDelete(context.Context, *b24v1.Portal) (admission.Warnings, error) {
	return nil, nil
}

// rotation says the change gives a webhook Portal a new webhook identity on the same portal.
func rotation(old, p *b24v1.Portal) bool {
	return old.Spec.Auth.Webhook != nil && p.Spec.Auth.Webhook != nil &&
		old.Spec.Auth.Webhook.ClientID != p.Spec.Auth.Webhook.ClientID &&
		rules.PortalHost(old.Spec.URL) == rules.PortalHost(p.Spec.URL)
}

func clientIDPath(p *b24v1.Portal) *field.Path {
	auth := field.NewPath("spec", "auth")
	switch {
	case p.Spec.Auth.Webhook != nil:
		return auth.Child("webhook", "clientId")
	case p.Spec.Auth.OAuth != nil:
		return auth.Child("oauth", "clientId")
	}
	return auth
}
