package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-b24ops-io-v1alpha1-chatapp,mutating=false,failurePolicy=fail,sideEffects=None,groups=b24ops.io,resources=chatapps,verbs=create;update,versions=v1alpha1,name=vchatapp.b24ops.io,admissionReviewVersions=v1,timeoutSeconds=10,serviceName=b24-operator-webhook,serviceNamespace=b24-operator-system
// +kubebuilder:webhook:path=/validate-b24ops-io-v1alpha1-metabot,mutating=false,failurePolicy=fail,sideEffects=None,groups=b24ops.io,resources=metabots,verbs=create;update,versions=v1alpha1,name=vmetabot.b24ops.io,admissionReviewVersions=v1,timeoutSeconds=10,serviceName=b24-operator-webhook,serviceNamespace=b24-operator-system

// ChatAppValidator refuses a ChatApp whose IFRAME hash Secret the requester may not get.
type ChatAppValidator struct{ secrets SecretAccess }

var _ admission.Validator[*b24v1.ChatApp] = ChatAppValidator{}

// ValidateCreate reviews the hash Secret.
func (v ChatAppValidator) ValidateCreate(ctx context.Context, app *b24v1.ChatApp) (admission.Warnings, error) {
	return nil, v.secrets.Check(ctx, app, nil)
}

// ValidateUpdate reviews a hash Secret the ChatApp did not reference before.
func (v ChatAppValidator) ValidateUpdate(ctx context.Context, old, app *b24v1.ChatApp) (admission.Warnings, error) {
	if app.DeletionTimestamp != nil {
		return nil, nil
	}
	return nil, v.secrets.Check(ctx, app, old)
}

// ValidateDelete allows every delete.
func (v ChatAppValidator) ValidateDelete(context.Context, *b24v1.ChatApp) (admission.Warnings, error) {
	return nil, nil
}

// MetabotValidator refuses a Metabot whose token Secret the requester may not get: the
// operator sends that token to spec.url as Authorization: Bearer.
type MetabotValidator struct{ secrets SecretAccess }

var _ admission.Validator[*b24v1.Metabot] = MetabotValidator{}

// ValidateCreate reviews the token Secret.
func (v MetabotValidator) ValidateCreate(ctx context.Context, m *b24v1.Metabot) (admission.Warnings, error) {
	return nil, v.secrets.Check(ctx, m, nil)
}

// ValidateUpdate reviews a token Secret the Metabot did not reference before.
func (v MetabotValidator) ValidateUpdate(ctx context.Context, old, m *b24v1.Metabot) (admission.Warnings, error) {
	if m.DeletionTimestamp != nil {
		return nil, nil
	}
	return nil, v.secrets.Check(ctx, m, old)
}

// ValidateDelete allows every delete.
func (v MetabotValidator) ValidateDelete(context.Context, *b24v1.Metabot) (admission.Warnings, error) {
	return nil, nil
}
