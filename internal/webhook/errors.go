package webhook

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// invalid is the refusal of an object: 422 Invalid with one cause per field, which kubectl shows
// as `<Kind>.b24ops.io "<name>" is invalid: spec.code: Invalid value: ...`.
func invalid(obj client.Object, errs field.ErrorList) error {
	gk := schema.GroupKind{Group: b24v1.GroupVersion.Group, Kind: kindOf(obj)}
	return apierrors.NewInvalid(gk, obj.GetName(), errs)
}

// kindOf names the kind without relying on TypeMeta, which decoding may leave empty.
func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *b24v1.Portal:
		return "Portal"
	case *b24v1.ChatBot:
		return "ChatBot"
	case *b24v1.Chat:
		return "Chat"
	case *b24v1.BotCommand:
		return "BotCommand"
	case *b24v1.ScheduledJob:
		return "ScheduledJob"
	case *b24v1.ChatApp:
		return "ChatApp"
	case *b24v1.Metabot:
		return "Metabot"
	}
	return obj.GetObjectKind().GroupVersionKind().Kind
}

// readError reports that the objects a rule compares against could not be read. The webhook
// fails closed (failurePolicy Fail): admitting without the check could break the bot limit.
func readError(err error) error {
	return apierrors.NewServiceUnavailable(fmt.Sprintf("b24-operator webhook could not read the objects it checks against, try again: %v", err))
}
