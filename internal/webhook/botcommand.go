package webhook

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
)

// +kubebuilder:webhook:path=/validate-b24ops-io-v1alpha1-botcommand,mutating=false,failurePolicy=fail,sideEffects=None,groups=b24ops.io,resources=botcommands,verbs=create;update,versions=v1alpha1,name=vbotcommand.b24ops.io,admissionReviewVersions=v1,timeoutSeconds=10,serviceName=b24-operator-webhook,serviceNamespace=b24-operator-system

// BotCommandValidator applies the rules that depend on the command's bot: a command of a V1
// bot has an eventHandler, a name of letters and digits only, and the one command handler URL
// of its application (Bitrix24 re-binds it with every command registered); a command of a V2
// bot has no eventHandler. A bot whose API is not known yet (no ChatBot, no Portal report) is
// left to the controller, which enforces every rule as the final authority.
type BotCommandValidator struct {
	reader client.Reader
}

// NewBotCommandValidator reads ChatBots, Portals and BotCommands through r, which must not be
// a cache.
func NewBotCommandValidator(r client.Reader) *BotCommandValidator {
	return &BotCommandValidator{reader: r}
}

var _ admission.Validator[*b24v1.BotCommand] = &BotCommandValidator{}

// ValidateCreate checks a new command against its bot and its application's command handler.
func (v *BotCommandValidator) ValidateCreate(ctx context.Context, cmd *b24v1.BotCommand) (admission.Warnings, error) {
	return v.validate(ctx, nil, cmd)
}

// ValidateUpdate checks again only when the eventHandler changes (command and botRef are
// immutable in the schema), so status-independent edits of an existing command always pass.
func (v *BotCommandValidator) ValidateUpdate(ctx context.Context, old, cmd *b24v1.BotCommand) (admission.Warnings, error) {
	if cmd.DeletionTimestamp != nil || (deref(old.Spec.EventHandler) == deref(cmd.Spec.EventHandler) && old.Spec.Command == cmd.Spec.Command) {
		return nil, nil
	}
	return v.validate(ctx, old, cmd)
}

// ValidateDelete allows every delete.
func (v *BotCommandValidator) ValidateDelete(context.Context, *b24v1.BotCommand) (admission.Warnings, error) {
	return nil, nil
}

func deref(u *b24v1.HTTPSURL) string {
	if u == nil {
		return ""
	}
	return string(*u)
}

func (v *BotCommandValidator) validate(ctx context.Context, old, cmd *b24v1.BotCommand) (admission.Warnings, error) {
	var bot b24v1.ChatBot
	if err := v.reader.Get(ctx, types.NamespacedName{Namespace: cmd.Namespace, Name: cmd.Spec.BotRef.Name}, &bot); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil // GitOps applies in any order: the controller waits for the bot
		}
		return nil, readError(fmt.Errorf("get ChatBot %s/%s: %w", cmd.Namespace, cmd.Spec.BotRef.Name, err))
	}
	var portal *b24v1.Portal
	var p b24v1.Portal
	switch err := v.reader.Get(ctx, types.NamespacedName{Namespace: cmd.Namespace, Name: bot.Spec.PortalRef.Name}, &p); {
	case err == nil:
		portal = &p
	case !apierrors.IsNotFound(err):
		return nil, readError(fmt.Errorf("get Portal %s/%s: %w", cmd.Namespace, bot.Spec.PortalRef.Name, err))
	}
	var errs field.ErrorList
	switch {
	case rules.V2Bot(&bot, portal):
		if cmd.Spec.EventHandler != nil {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "eventHandler"), fmt.Sprintf(
				"eventHandler is V1 only: ChatBot %s is a V2 bot, which receives its commands (ONIMBOTV2COMMANDADD) through its own event mode", bot.Name)))
		}
	case rules.V1Bot(&bot, portal):
		if !b24v1.ValidV1Command(cmd.Spec.Command) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "command"), cmd.Spec.Command, fmt.Sprintf("%s; ChatBot %s is a V1 bot", b24v1.V1CommandRule, bot.Name)))
		}
		if cmd.Spec.EventHandler == nil {
			errs = append(errs, field.Required(field.NewPath("spec", "eventHandler"), fmt.Sprintf(
				"a command of a V1 bot needs eventHandler (EVENT_COMMAND_ADD, the URL Bitrix24 calls when the command runs); ChatBot %s is a V1 bot", bot.Name)))
			break
		}
		app := rules.ApplicationOf(&bot, portal)
		if app == "" {
			break
		}
		herrs, warnings, err := v.handlerErrors(ctx, app, old, cmd)
		if err != nil {
			return nil, err
		}
		errs = append(errs, herrs...)
		if len(errs) == 0 {
			return warnings, nil
		}
	}
	if len(errs) > 0 {
		return nil, invalid(cmd, errs)
	}
	return nil, nil
}

// handlerErrors refuses an eventHandler that differs from another V1 command's of the same
// application: Bitrix24 keeps one command handler per application, and every register or
// update re-binds it for all of the application's commands. On update only a difference this
// change introduces counts, and the b24ops.io/migrate-handlers annotation turns the refusal
// into a warning, so an application can move to a new URL one command at a time.
func (v *BotCommandValidator) handlerErrors(ctx context.Context, app string, old, cmd *b24v1.BotCommand) (field.ErrorList, admission.Warnings, error) {
	var cmds b24v1.BotCommandList
	if err := v.reader.List(ctx, &cmds); err != nil {
		return nil, nil, readError(fmt.Errorf("list BotCommands: %w", err))
	}
	var bots b24v1.ChatBotList
	if err := v.reader.List(ctx, &bots); err != nil {
		return nil, nil, readError(fmt.Errorf("list ChatBots: %w", err))
	}
	var portals b24v1.PortalList
	if err := v.reader.List(ctx, &portals); err != nil {
		return nil, nil, readError(fmt.Errorf("list Portals: %w", err))
	}
	appOf := rules.CommandApplications(bots.Items, portals.Items)
	var others []*b24v1.BotCommand
	for i := range cmds.Items {
		if client.ObjectKeyFromObject(&cmds.Items[i]) != client.ObjectKeyFromObject(cmd) {
			others = append(others, &cmds.Items[i])
		}
	}
	mine := deref(cmd.Spec.EventHandler)
	for _, o := range rules.CommandHandlerHolders(app, others, appOf) {
		theirs := deref(o.Spec.EventHandler)
		if theirs == mine || (old != nil && deref(old.Spec.EventHandler) != theirs) {
			continue
		}
		holder := "an object in another namespace"
		if o.Namespace == cmd.Namespace {
			holder = "BotCommand " + o.Name
			if o.DeletionTimestamp != nil {
				holder += " (being deleted)"
			}
		}
		if old != nil && cmd.Annotations[b24v1.MigrateHandlersAnnotation] == "true" {
			return nil, admission.Warnings{fmt.Sprintf("eventHandler now differs from %s of application %s: update every command of the application to the same URL", holder, app)}, nil
		}
		what := fmt.Sprintf("%q, the command handler", theirs)
		if holder == "an object in another namespace" {
			what = "the command handler" // another namespace's URL is not told
		}
		return field.ErrorList{field.Invalid(field.NewPath("spec", "eventHandler"), mine, fmt.Sprintf(
			"differs from %s of application %s held by %s: Bitrix24 keeps one command handler per application and re-binds it with every command registered, "+
				"so every BotCommand of the application's V1 bots must use the same eventHandler", what, app, holder))}, nil, nil
	}
	return nil, nil, nil
}
