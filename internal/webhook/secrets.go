package webhook

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// secretRef is one Secret an object makes the operator read, and the field that names it.
type secretRef struct {
	path *field.Path
	name string
}

// secretRefs lists the Secrets an object references, with their fields (refs.Secrets, by field).
func secretRefs(obj client.Object) []secretRef {
	switch o := obj.(type) {
	case *b24v1.Portal:
		auth := field.NewPath("spec", "auth")
		switch {
		case o.Spec.Auth.Webhook != nil:
			return []secretRef{{auth.Child("webhook", "secretRef", "name"), o.Spec.Auth.Webhook.SecretRef.Name}}
		case o.Spec.Auth.OAuth != nil:
			return []secretRef{{auth.Child("oauth", "secretRef", "name"), o.Spec.Auth.OAuth.SecretRef.Name}}
		}
	case *b24v1.ChatApp:
		if o.Spec.Iframe != nil {
			return []secretRef{{field.NewPath("spec", "iframe", "hashSecretRef", "name"), o.Spec.Iframe.HashSecretRef.Name}}
		}
	case *b24v1.Metabot:
		return []secretRef{{field.NewPath("spec", "tokenSecretRef", "name"), o.Spec.TokenSecretRef.Name}}
	}
	return nil
}

// SecretAccess refuses an object that references a Secret its requester may not get: the
// operator reads that Secret and sends it to a host the object names, so referring to it must
// not be a way around RBAC. It asks the API server with a SubjectAccessReview for the
// requester of the admission request (user, groups, uid, extra).
type SecretAccess struct {
	Client client.Client
}

// Check reviews every Secret obj references that old (nil on create) did not. Outside an
// admission request (a direct call) there is no requester, and nothing is checked.
func (s SecretAccess) Check(ctx context.Context, obj, old client.Object) error {
	req, err := admission.RequestFromContext(ctx)
	if err != nil || s.Client == nil {
		return nil
	}
	known := map[string]bool{}
	if old != nil {
		for _, r := range secretRefs(old) {
			known[r.name] = true
		}
	}
	u := req.UserInfo
	extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	var errs field.ErrorList
	for _, r := range secretRefs(obj) {
		if known[r.name] {
			continue
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: obj.GetNamespace(), Verb: "get", Resource: "secrets", Name: r.name,
			},
		}}
		if err := s.Client.Create(ctx, sar); err != nil {
			return readError(fmt.Errorf("review access to Secret %s: %w", r.name, err))
		}
		if !sar.Status.Allowed {
			errs = append(errs, field.Forbidden(r.path, fmt.Sprintf(
				"%s may not get Secret %s in namespace %s: the operator would read it and send it to the host this object names, so only someone allowed to read a Secret may refer to it",
				u.Username, r.name, obj.GetNamespace())))
		}
	}
	if len(errs) > 0 {
		return invalid(obj, errs)
	}
	return nil
}
