package webhook

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
)

// +kubebuilder:webhook:path=/validate-b24ops-io-v1alpha1-chatbot,mutating=false,failurePolicy=fail,sideEffects=None,groups=b24ops.io,resources=chatbots,verbs=create;update,versions=v1alpha1,name=vchatbot.b24ops.io,admissionReviewVersions=v1,timeoutSeconds=10,serviceName=b24-operator-webhook,serviceNamespace=b24-operator-system

// pendingTTL is how long an admitted ChatBot that the API server does not list yet still counts.
// The API server stores an object right after the validating webhooks answer (within their
// timeouts), so a reservation older than this belongs to a create that failed later.
const pendingTTL = 30 * time.Second

// ChatBotValidator enforces the rules that span ChatBots: the bot limit and the one event
// handler set of an application, and codes unique on a portal.
type ChatBotValidator struct {
	reader client.Reader
	live   client.Reader
	now    func() time.Time

	// hosts serializes the ChatBot admissions of one portal host in this replica, and
	// pending remembers the bots it admitted until the cache holds them: without both,
	// concurrent creates would each read the same count and all pass. Every rule a ChatBot
	// admission checks is about one host (the bot limit and the handlers of an application
	// on it, codes unique on it), so admissions on different hosts run in parallel. Replicas
	// do not share this, so creates spread over replicas can still race past the limit; the
	// ChatBot controller is the final authority (it registers only the first maxBots in
	// creation order).
	hosts keyedMutex

	mu      sync.Mutex // guards pending
	pending map[types.NamespacedName]pendingBot
}

type pendingBot struct {
	bot   *b24v1.ChatBot
	until time.Time
}

// NewChatBotValidator reads Portals and ChatBots through r, the manager's cache with the field
// indexes of Indexes, and a Portal the cache does not hold yet through live (the API reader;
// may be nil).
func NewChatBotValidator(r, live client.Reader) *ChatBotValidator {
	return &ChatBotValidator{reader: r, live: live, now: time.Now, pending: map[types.NamespacedName]pendingBot{}}
}

var _ admission.Validator[*b24v1.ChatBot] = &ChatBotValidator{}

// ValidateCreate refuses a ChatBot over its application's bot limit, with a code already used
// on its portal, or with event handlers other than its application's.
func (v *ChatBotValidator) ValidateCreate(ctx context.Context, bot *b24v1.ChatBot) (admission.Warnings, error) {
	portal, err := v.portal(ctx, types.NamespacedName{Namespace: bot.Namespace, Name: bot.Spec.PortalRef.Name})
	if err != nil {
		return nil, readError(err)
	}
	if portal == nil {
		// GitOps applies objects in any order: the controller waits for the Portal and
		// enforces the limit itself.
		return admission.Warnings{fmt.Sprintf("Portal %s/%s does not exist yet: the bot limit, code and event handler checks run in the controller once it does",
			bot.Namespace, bot.Spec.PortalRef.Name)}, nil
	}
	defer v.hosts.lock(rules.PortalHost(portal.Spec.URL))()
	inv := v.inventory(ctx)
	inv.portals[client.ObjectKeyFromObject(portal)] = portal
	app := rules.ApplicationKey(portal)
	// Only bots of verified Portals hold places: a Portal with made-up credentials cannot use
	// up another team's limit or squat its codes (rules.ApplicationOf).
	if app == "" {
		// The identity is in the Portal's Secret, which the webhook does not read, and the
		// controller has not recorded its key yet.
		if errs := codeErrors(inv, bot); len(errs) > 0 {
			return nil, invalid(bot, errs)
		}
		return admission.Warnings{fmt.Sprintf("Portal %s/%s keeps its webhook identity in its Secret and has not been verified yet: the bot limit and event handler checks run in the controller",
			portal.Namespace, portal.Name)}, nil
	}
	others := inv.botsOf(app, client.ObjectKeyFromObject(bot))

	var errs field.ErrorList
	if limit := rules.MaxBots(portal); len(others) >= limit {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "portalRef"), fmt.Sprintf(
			"application %s has reached its limit of %d ChatBots (spec.maxBots of Portal %s/%s): it is held by %s; delete one of them before adding another",
			app, limit, portal.Namespace, portal.Name, inv.names(others, bot.Namespace))))
	}
	errs = append(errs, codeErrors(inv, bot)...)
	errs = append(errs, adoptErrors(inv, bot)...)
	errs = append(errs, handlerErrors(inv, app, bot, nil, others)...)
	if inv.err != nil {
		return nil, readError(inv.err)
	}
	if len(errs) > 0 {
		return nil, invalid(bot, errs)
	}
	if !dryRun(ctx) { // a server-side dry run (kubectl diff, Argo CD) stores nothing
		v.mu.Lock()
		v.pending[client.ObjectKeyFromObject(bot)] = pendingBot{bot: bot.DeepCopy(), until: v.now().Add(pendingTTL)}
		v.mu.Unlock()
	}
	return nil, nil
}

// portal reads a Portal from the cache, or from the API server when the cache does not hold
// it (yet): a Portal applied a moment before its bots is found. nil when it does not exist.
func (v *ChatBotValidator) portal(ctx context.Context, key types.NamespacedName) (*b24v1.Portal, error) {
	for _, r := range []client.Reader{v.reader, v.live} {
		if r == nil {
			continue
		}
		var p b24v1.Portal
		err := r.Get(ctx, key, &p)
		if err == nil {
			return &p, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("get Portal %s: %w", key, err)
		}
	}
	return nil, nil
}

// ValidateUpdate refuses a change of event handlers that makes the bot differ from another
// ChatBot of its application. Updates that leave the spec alone (finalizers, labels) and
// updates of a bot being deleted always pass, so the controller can never be locked out.
func (v *ChatBotValidator) ValidateUpdate(ctx context.Context, oldBot, bot *b24v1.ChatBot) (admission.Warnings, error) {
	if bot.DeletionTimestamp != nil || equality.Semantic.DeepEqual(oldBot.Spec, bot.Spec) {
		return nil, nil
	}
	takeover := oldBot.ObserveOnly() && !bot.ObserveOnly()
	if rules.ResolvedHandlers(oldBot) == rules.ResolvedHandlers(bot) && oldBot.Spec.Code == bot.Spec.Code &&
		!takeover && adoptID(oldBot) == adoptID(bot) {
		return nil, nil
	}
	probe := newInventory(ctx, v.reader)
	host := probe.hostOf(bot)
	if probe.err != nil {
		return nil, readError(probe.err)
	}
	if probe.declaredApplicationOf(bot) == "" {
		return nil, nil
	}
	defer v.hosts.lock(host)()
	inv := v.inventory(ctx)
	app := inv.declaredApplicationOf(bot)
	if inv.err != nil {
		return nil, readError(inv.err)
	}
	if app == "" {
		return nil, nil
	}
	others := inv.botsOf(app, client.ObjectKeyFromObject(bot))
	var errs field.ErrorList
	if oldBot.Spec.Code != bot.Spec.Code { // immutable in the schema; checked in case that changes
		errs = append(errs, codeErrors(inv, bot)...)
	}
	if adoptID(oldBot) != adoptID(bot) {
		errs = append(errs, adoptErrors(inv, bot)...)
	}
	if takeover {
		// An observed bot's handlers did not count (it writes nothing); from now on they do,
		// as for a new bot.
		oldBot = nil
	}
	var warnings admission.Warnings
	if bot.Annotations[b24v1.MigrateHandlersAnnotation] == "true" {
		// Moving an application to new URLs means changing every bot, one at a time: the
		// annotation lets the first ones through while the others still hold the old URLs.
		// Bitrix24 applies the handlers of the latest register or update to the application.
		if len(handlerErrors(inv, app, bot, oldBot, others)) > 0 {
			warnings = append(warnings, fmt.Sprintf("event handlers now differ from other ChatBots of application %s: update them to the same URLs", app))
		}
	} else {
		errs = append(errs, handlerErrors(inv, app, bot, oldBot, others)...)
	}
	if inv.err != nil {
		return nil, readError(inv.err)
	}
	if len(errs) > 0 {
		return nil, invalid(bot, errs)
	}
	return warnings, nil
}

// ValidateDelete allows every delete: the controller unregisters the bot.
func (v *ChatBotValidator) ValidateDelete(context.Context, *b24v1.ChatBot) (admission.Warnings, error) {
	return nil, nil
}

// inventory starts the reads of one admission, with the bots admitted here that the cache
// does not hold yet. Called with the host's lock held.
func (v *ChatBotValidator) inventory(ctx context.Context) *inventory {
	inv := newInventory(ctx, v.reader)
	v.mu.Lock()
	keys := make([]types.NamespacedName, 0, len(v.pending))
	now := v.now()
	for key, p := range v.pending {
		if now.After(p.until) {
			delete(v.pending, key)
			continue
		}
		keys = append(keys, key)
	}
	v.mu.Unlock()
	for _, key := range keys {
		var b b24v1.ChatBot
		err := v.reader.Get(ctx, key, &b)
		v.mu.Lock()
		p, ok := v.pending[key]
		switch {
		case !ok:
		case err == nil:
			delete(v.pending, key) // the cache holds it: it is read like any other
		case apierrors.IsNotFound(err):
			inv.pending[key] = p.bot
		default:
			inv.fail(fmt.Errorf("get ChatBot %s: %w", key, err))
		}
		v.mu.Unlock()
	}
	return inv
}

func dryRun(ctx context.Context) bool {
	req, err := admission.RequestFromContext(ctx)
	return err == nil && req.DryRun != nil && *req.DryRun
}

// codeErrors refuses a code another ChatBot on the same portal uses. Bitrix24 looks a CODE up
// across the whole portal, whatever application owns it: in the same application both objects
// would manage one remote bot, in another one the second bot ends up CodeTaken (APP_ID_ERROR).
func codeErrors(inv *inventory, bot *b24v1.ChatBot) field.ErrorList {
	host := inv.hostOf(bot)
	if host == "" {
		return nil
	}
	for _, o := range inv.botsOnHost(host, bot.Spec.Code, client.ObjectKeyFromObject(bot)) {
		holder := fmt.Sprintf("ChatBot %s (application %s)", inv.describe(o, bot.Namespace), inv.applicationOf(o))
		if o.Namespace != bot.Namespace {
			holder = otherNamespace
		}
		return field.ErrorList{field.Invalid(field.NewPath("spec", "code"), bot.Spec.Code, fmt.Sprintf(
			"code %q is already used by %s; a bot code must be unique on the portal %s, across its applications",
			bot.Spec.Code, holder, host))}
	}
	return nil
}

func adoptID(b *b24v1.ChatBot) int64 {
	if b.Spec.Adopt == nil {
		return 0
	}
	return b.Spec.Adopt.ID
}

// adoptErrors refuses a spec.adopt.id that names a bot another ChatBot on the same portal
// already adopts or manages: both objects would manage one remote bot.
func adoptErrors(inv *inventory, bot *b24v1.ChatBot) field.ErrorList {
	id := adoptID(bot)
	host := inv.hostOf(bot)
	if id == 0 || host == "" {
		return nil
	}
	if held := inv.botsWithID(host, id, client.ObjectKeyFromObject(bot)); len(held) > 0 {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "adopt", "id"), id, fmt.Sprintf(
			"bot %d is already adopted or managed by ChatBot %s on the portal %s; one remote bot is managed by one ChatBot",
			id, inv.describe(held[0], bot.Namespace), host))}
	}
	return nil
}

// handlerErrors refuses event handler URLs that differ from another ChatBot's of the same
// application: Bitrix24 keeps one handler set per application, and registering a bot re-binds
// it for all of them. On update (old != nil) only differences this change introduces count, so
// an existing disagreement never blocks an unrelated edit.
//
// The rule holds among V1 bots only: a V2 bot has its own webhookUrl. An ObserveOnly bot
// writes nothing, so its handlers (imbot.bot.list does not show them) do not count either way.
func handlerErrors(inv *inventory, app string, bot, old *b24v1.ChatBot, others []*b24v1.ChatBot) field.ErrorList {
	if !inv.v1Bot(bot) || bot.ObserveOnly() {
		return nil
	}
	mine := rules.ResolvedHandlers(bot).Required()
	for _, o := range others {
		if !inv.v1Bot(o) || o.ObserveOnly() {
			continue
		}
		theirs := rules.ResolvedHandlers(o).Required()
		if mine == theirs || (old != nil && rules.ResolvedHandlers(old).Required() != theirs) {
			continue
		}
		why := fmt.Sprintf("Bitrix24 keeps one set of event handlers per application (%s), so every ChatBot of it must use the same URLs", app)
		if o.Namespace != bot.Namespace {
			// Another team's URLs are not told; the path says which field to change.
			if bot.Spec.EventHandler != nil {
				return field.ErrorList{field.Invalid(field.NewPath("spec", "eventHandler"), mine[0], fmt.Sprintf(
					"differs from the event handlers of %s: %s", otherNamespace, why))}
			}
			var errs field.ErrorList
			for i, event := range requiredEvents {
				if mine[i] != theirs[i] {
					errs = append(errs, field.Invalid(field.NewPath("spec", "eventHandlers", event), mine[i], fmt.Sprintf(
						"the %s handler differs from that of %s: %s", event, otherNamespace, why)))
				}
			}
			return errs
		}
		if bot.Spec.EventHandler != nil {
			return field.ErrorList{field.Invalid(field.NewPath("spec", "eventHandler"), mine[0], fmt.Sprintf(
				"differs from ChatBot %s, whose handlers are %s: %s", inv.describe(o, bot.Namespace), describeHandlers(theirs), why))}
		}
		var errs field.ErrorList
		for i, event := range requiredEvents {
			if mine[i] != theirs[i] {
				errs = append(errs, field.Invalid(field.NewPath("spec", "eventHandlers", event), mine[i], fmt.Sprintf(
					"the %s handler must be %q as on ChatBot %s: %s", event, theirs[i], inv.describe(o, bot.Namespace), why)))
			}
		}
		return errs
	}
	return nil
}

// describeHandlers shows a bot's required handlers: one URL when they are all the same.
func describeHandlers(h [3]string) string {
	if h[0] == h[1] && h[1] == h[2] {
		return fmt.Sprintf("%q", h[0])
	}
	return fmt.Sprintf("%s %q, %s %q, %s %q", requiredEvents[0], h[0], requiredEvents[1], h[1], requiredEvents[2], h[2])
}

// requiredEvents name the handlers of rules.Handlers.Required, in its order.
var requiredEvents = [3]string{"messageAdd", "welcomeMessage", "botDelete"}

// v1Bot says a ChatBot is, or will be, registered through the V1 API (rules.V1Bot). A bot
// whose API is not known yet is not held to the V1 rules; the controller decides once the
// Portal reports.
func (inv *inventory) v1Bot(b *b24v1.ChatBot) bool { return rules.V1Bot(b, inv.portalOf(b)) }
