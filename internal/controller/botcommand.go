package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

func (s *setup) botCommand() error {
	c := s.mgr.GetClient()
	r := newReconciler(s, "BotCommand", func() *b24v1.BotCommand { return &b24v1.BotCommand{} },
		&botCommandAdapter{client: c, portals: s.shared.Portals})
	b := ctrl.NewControllerManagedBy(s.mgr).Named("botcommand").
		For(&b24v1.BotCommand{}, forPredicates()).
		WithOptions(s.controllerOptions()).
		// A command waits for its bot's id and follows it when the bot is registered again.
		Watches(&b24v1.ChatBot{}, byIndex(c, &b24v1.BotCommandList{}, refs.IndexBotRef), builder.WithPredicates(botIDOrLifecycleChanged())).
		// A command leaving, or changing its handler, may free the application's command
		// handler for the commands stalled on it.
		Watches(&b24v1.BotCommand{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return waitingForHandler(ctx, c)
		}), builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return !e.ObjectNew.GetDeletionTimestamp().IsZero() || e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration()
			},
		}))
	return watchNamespacePolicy(b, c, &b24v1.BotCommandList{}).Complete(r)
}

// waitingForHandler lists the BotCommands stalled on the one-command-handler rule.
func waitingForHandler(ctx context.Context, c client.Client) []reconcile.Request {
	var cmds b24v1.BotCommandList
	if err := c.List(ctx, &cmds); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range cmds.Items {
		cmd := &cmds.Items[i]
		if cond := meta.FindStatusCondition(cmd.Status.Conditions, b24v1.ConditionReady); cond != nil &&
			cond.Reason == b24v1.ReasonInvalidSpec && strings.Contains(cond.Message, handlerRule) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cmd)})
		}
	}
	return reqs
}

// handlerRule is the part of the refusal that names the one-command-handler rule.
const handlerRule = "Bitrix24 keeps one command handler per application"

// botCommandAdapter registers, updates and unregisters bot commands through the API of their
// ChatBot.
type botCommandAdapter struct {
	client  client.Client
	portals *Portals
}

// Orphan is false: the loop applies spec.deletionPolicy and its defaults.
func (a *botCommandAdapter) Orphan(*b24v1.BotCommand) bool { return false }

// DependsOn: a command is registered for a bot that has an id.
func (a *botCommandAdapter) DependsOn(cmd *b24v1.BotCommand) []managed.Dependency {
	return []managed.Dependency{botDependency(cmd.Spec.BotRef.Name)}
}

type botCommandExternal struct {
	*botCommandAdapter
	// bot is nil while deleting when no bot is left.
	bot *boundBot
	// api is the API the command is (to be) registered through.
	api b24v1.BotAPI
	// verify says Observe found a V1 command due for its existence check, which Update makes
	// (V1 has no list: the check is an idempotent register).
	verify bool
}

func (a *botCommandAdapter) Connect(ctx context.Context, cmd *b24v1.BotCommand) (managed.External[*b24v1.BotCommand], error) {
	deleting := !cmd.DeletionTimestamp.IsZero()
	if deleting && cmd.Status.CommandID == 0 {
		return &botCommandExternal{botCommandAdapter: a}, nil // nothing remote to remove
	}
	bot, err := connectBot(ctx, a.client, a.portals, cmd.Namespace, cmd.Spec.BotRef.Name, deleting)
	if err != nil {
		return nil, err
	}
	e := &botCommandExternal{botCommandAdapter: a, bot: bot}
	switch {
	case bot == nil:
		return e, nil
	case deleting && cmd.Status.API != "":
		e.api = cmd.Status.API
	default:
		e.api = bot.api
	}
	if deleting || cmd.ObserveOnly() {
		return e, nil
	}
	if err := a.validate(ctx, cmd, bot); err != nil {
		return nil, err
	}
	return e, nil
}

// validate applies the rules that depend on the bot's API: a V1 command has an eventHandler,
// a name of letters and digits and the application's one command handler URL; a V2 command
// has no eventHandler.
func (a *botCommandAdapter) validate(ctx context.Context, cmd *b24v1.BotCommand, bot *boundBot) error {
	if bot.api == b24v1.BotAPIV2 {
		if cmd.Spec.EventHandler != nil {
			return managed.Stalled(b24v1.ReasonInvalidSpec, "spec.eventHandler is V1 only: ChatBot %s is a V2 bot, which receives its commands "+
				"(ONIMBOTV2COMMANDADD) through its own event mode; remove eventHandler", bot.name)
		}
		return nil
	}
	if !b24v1.ValidV1Command(cmd.Spec.Command) {
		return managed.Stalled(b24v1.ReasonInvalidSpec, "spec.command %q: %s; ChatBot %s is a V1 bot", cmd.Spec.Command, b24v1.V1CommandRule, bot.name)
	}
	if cmd.Spec.EventHandler == nil {
		return managed.Stalled(b24v1.ReasonInvalidSpec, "spec.eventHandler is required for a command of a V1 bot (EVENT_COMMAND_ADD, the URL Bitrix24 calls when the command runs); ChatBot %s is a V1 bot", bot.name)
	}
	return checkCommandHandler(ctx, a.client, cmd, rules.ApplicationKey(bot.portal))
}

// checkCommandHandler is the controller's final word on the one command handler per V1
// application, whatever order the objects were created in: the first BotCommand of the
// application (rules.CommandHandlerHolders) holds the URL, and a command that differs makes no
// remote call.
func checkCommandHandler(ctx context.Context, c client.Client, cmd *b24v1.BotCommand, app string) error {
	var cmds b24v1.BotCommandList
	if err := c.List(ctx, &cmds); err != nil {
		return managed.Retryable(b24v1.ReasonRemoteError, "list BotCommands: %v", err)
	}
	var bots b24v1.ChatBotList
	if err := c.List(ctx, &bots); err != nil {
		return managed.Retryable(b24v1.ReasonRemoteError, "list ChatBots: %v", err)
	}
	var portals b24v1.PortalList
	if err := c.List(ctx, &portals); err != nil {
		return managed.Retryable(b24v1.ReasonRemoteError, "list Portals: %v", err)
	}
	all := make([]*b24v1.BotCommand, 0, len(cmds.Items))
	for i := range cmds.Items {
		if client.ObjectKeyFromObject(&cmds.Items[i]) != client.ObjectKeyFromObject(cmd) {
			all = append(all, &cmds.Items[i])
		}
	}
	all = append(all, cmd)
	holders := rules.CommandHandlerHolders(app, all, rules.CommandApplications(bots.Items, portals.Items))
	if len(holders) == 0 || holders[0] == cmd || *holders[0].Spec.EventHandler == *cmd.Spec.EventHandler {
		return nil
	}
	h := holders[0]
	holder := "an object in another namespace"
	if h.Namespace == cmd.Namespace {
		holder = "BotCommand " + h.Name
	}
	return managed.Stalled(b24v1.ReasonInvalidSpec, "spec.eventHandler differs from the command handler of application %s, held by %s: "+
		"%s, re-bound by every command registered, so every BotCommand of its V1 bots must use the same eventHandler", app, holder, handlerRule)
}

func (e *botCommandExternal) Observe(ctx context.Context, cmd *b24v1.BotCommand, force bool) (managed.Observation, error) {
	if cmd.ObserveOnly() {
		return e.observeOnly(ctx, cmd, force)
	}
	if e.api == b24v1.BotAPIV2 {
		return e.observeV2(ctx, cmd, force)
	}
	st := &cmd.Status
	resync := resyncOf(e.bot.portal)
	obs := managed.Observation{RequeueAfter: resync}
	switch {
	case st.CommandID == 0:
		// BotID stays set when the command was registered once and found gone since.
		obs.Missing = st.BotID != 0
		return obs, nil
	case st.BotID != int64(e.bot.id) || st.API != b24v1.BotAPIV1:
		// The bot was registered again under a new id. Unregistering the old bot took its
		// commands along: register the command again for the new one.
		obs.Missing = true
		return obs, nil
	}
	p := e.paramsV1(cmd)
	// V1 has no list: the existence check is a register (see verifyV1), Update's to make.
	e.verify = force || managed.Due(ctx, resync)
	obs.Exists = true
	obs.UpToDate = st.AppliedHash == hashOf(p) && st.Common == p.Common && !e.verify
	if !e.verify {
		obs.RequeueAfter = untilDue(managed.LastVerified(ctx), resync)
	}
	obs.Message = inSyncV1(cmd)
	return obs, nil
}

func (e *botCommandExternal) Create(ctx context.Context, cmd *b24v1.BotCommand) (managed.Applied, error) {
	if e.api == b24v1.BotAPIV2 {
		return done(e.createV2(ctx, cmd))
	}
	return done(e.createV1(ctx, cmd))
}

func (e *botCommandExternal) Update(ctx context.Context, cmd *b24v1.BotCommand) (managed.Applied, error) {
	if e.api == b24v1.BotAPIV2 {
		return done(e.updateV2(ctx, cmd))
	}
	return e.updateV1(ctx, cmd)
}

// Delete unregisters the command; a command whose bot is gone (or was registered again) went
// with it.
func (e *botCommandExternal) Delete(ctx context.Context, cmd *b24v1.BotCommand) (managed.Applied, error) {
	st := &cmd.Status
	if st.CommandID == 0 || e.bot == nil || int64(e.bot.id) != st.BotID {
		return managed.Applied{}, nil
	}
	if e.api == b24v1.BotAPIV2 {
		err := notOursV2(e.bot.bitrix.CommandUnregisterV2(ctx, e.bot.id, int(st.CommandID)))
		if err == nil || errors.Is(err, bitrix.ErrCommandNotFound) {
			e.portals.NoteCommandV2(client.ObjectKeyFromObject(e.bot.portal), bitrix.CommandV2{ID: int(st.CommandID), BotID: e.bot.id}, true)
		}
		return done(err)
	}
	return done(notOurs(e.bot.bitrix.CommandUnregister(ctx, int(st.CommandID))))
}

// ---- V1: imbot.command.* ----

// paramsV1 translates the spec into what imbot.command.register / update send.
func (e *botCommandExternal) paramsV1(cmd *b24v1.BotCommand) bitrix.CommandParams {
	s := cmd.Spec
	p := bitrix.CommandParams{
		BotID: e.bot.id, Command: s.Command, EventHandler: string(deref(s.EventHandler)),
		Common: deref(s.Common), Hidden: deref(s.Hidden), ExtranetSupport: deref(s.ExtranetSupport),
	}
	for _, t := range s.Translations {
		p.Lang = append(p.Lang, bitrix.CommandLang{LanguageID: t.Language, Title: t.Title, Params: t.Params})
	}
	return p
}

// commandGoneV1 turns the errors that mean the bot is gone into a wait for the ChatBot.
func (e *botCommandExternal) botGoneV1(err error) error {
	return e.bot.botGone(err)
}

func (e *botCommandExternal) createV1(ctx context.Context, cmd *b24v1.BotCommand) error {
	p := e.paramsV1(cmd)
	// The same (BOT_ID, COMMAND) returns the existing command, so a retry after a crash before
	// the status write cannot make a duplicate.
	id, err := e.bot.bitrix.CommandRegister(ctx, p)
	if err != nil {
		return e.botGoneV1(err)
	}
	// A command that existed already (left by a crash before the status write, or made outside
	// the operator) comes back unchanged: the update makes it match the spec either way.
	if err := e.bot.bitrix.CommandUpdate(ctx, id, p); err != nil {
		return e.botGoneV1(err)
	}
	e.appliedV1(cmd, id, p)
	return nil
}

func (e *botCommandExternal) appliedV1(cmd *b24v1.BotCommand, id int, p bitrix.CommandParams) {
	st := &cmd.Status
	st.CommandID, st.BotID, st.API = int64(id), int64(e.bot.id), b24v1.BotAPIV1
	st.Common, st.AppliedHash, st.Languages = p.Common, hashOf(p), languages(cmd)
}

// inSyncV1 is the Ready message of a V1 command in sync: a create or an existence check
// reports the one the next drift check will, so that check writes nothing.
func inSyncV1(cmd *b24v1.BotCommand) string {
	st := &cmd.Status
	return fmt.Sprintf("Command %d (/%s) is registered for bot %d and in sync", st.CommandID, cmd.Spec.Command, st.BotID)
}

// updateV1 makes the existence check when it is due, registers the command again when COMMON
// changed (imbot.command.update cannot change it), and applies the rest with
// imbot.command.update when what would be sent changed.
func (e *botCommandExternal) updateV1(ctx context.Context, cmd *b24v1.BotCommand) (managed.Applied, error) {
	st := &cmd.Status
	p := e.paramsV1(cmd)
	var applied managed.Applied
	if e.verify {
		// imbot.command.register answers the existing id for the same (BOT_ID, COMMAND) and
		// changes nothing: the recorded id means the command is there. Another id means it was
		// gone and this call registered it again, as the spec says.
		id, err := e.bot.bitrix.CommandRegister(ctx, p)
		if err != nil {
			return managed.Applied{}, e.botGoneV1(err)
		}
		if id != int(st.CommandID) {
			applied.Event = &managed.Event{Type: corev1.EventTypeNormal, Reason: managed.EventRecreated,
				Message: fmt.Sprintf("Command %d (/%s) was missing remotely and was registered again as %d", st.CommandID, cmd.Spec.Command, id)}
			e.appliedV1(cmd, id, p)
			return applied, nil
		}
		if st.AppliedHash == hashOf(p) && st.Common == p.Common {
			return managed.Applied{Noop: true, Message: inSyncV1(cmd)}, nil // there, and as the spec says
		}
	}
	if st.Common != p.Common {
		old := st.CommandID
		if err := e.bot.bitrix.CommandUnregister(ctx, int(old)); err != nil && !managed.Classify("unregister", err).Gone {
			return managed.Applied{}, e.botGoneV1(notOurs(err))
		}
		// From here on the old id is gone: a failure below registers the command afresh.
		st.CommandID = 0
		id, err := e.bot.bitrix.CommandRegister(ctx, p)
		if err != nil {
			return managed.Applied{}, e.botGoneV1(err)
		}
		e.appliedV1(cmd, id, p)
		return managed.Applied{Event: &managed.Event{Type: corev1.EventTypeNormal, Reason: managed.EventUpdated,
			Message: fmt.Sprintf("BotCommand updated: common changed, which imbot.command.update cannot do, so command %d was unregistered and registered again as %d", old, id)}}, nil
	}
	if err := e.bot.bitrix.CommandUpdate(ctx, int(st.CommandID), p); err != nil {
		if errors.Is(err, bitrix.ErrCommandIDError) {
			// Gone since it was verified: register it again on the next pass.
			id := st.CommandID
			st.CommandID = 0
			return managed.Applied{}, managed.Retryable(b24v1.ReasonProgressing, "command %d disappeared remotely; registering it again", id)
		}
		return managed.Applied{}, e.botGoneV1(err)
	}
	st.AppliedHash, st.Languages = hashOf(p), languages(cmd)
	return applied, nil
}

func languages(cmd *b24v1.BotCommand) []string {
	out := make([]string, 0, len(cmd.Spec.Translations))
	for _, t := range cmd.Spec.Translations {
		out = append(out, t.Language)
	}
	slices.Sort(out)
	return out
}

// ---- V2: imbot.v2.Command.* ----

// paramsV2 translates the spec into what imbot.v2.Command.register / update send.
func paramsV2(cmd *b24v1.BotCommand) bitrix.CommandV2Params {
	s := cmd.Spec
	p := bitrix.CommandV2Params{Command: s.Command, Common: deref(s.Common), Hidden: deref(s.Hidden), ExtranetSupport: deref(s.ExtranetSupport)}
	for _, t := range s.Translations {
		if p.Title == nil {
			p.Title = map[string]string{}
		}
		p.Title[t.Language] = t.Title
		if t.Params != "" {
			if p.Params == nil {
				p.Params = map[string]string{}
			}
			p.Params[t.Language] = t.Params
		}
	}
	return p
}

// commandsV2 reads the bot's commands: one imbot.v2.Command.list per bot per resync serves
// every BotCommand of the bot.
func (e *botCommandExternal) commandsV2(ctx context.Context, force bool) ([]bitrix.CommandV2, error) {
	peers, err := e.listPeers(ctx)
	if err != nil {
		return nil, err
	}
	list, err := e.portals.CommandsV2(ctx, client.ObjectKeyFromObject(e.bot.portal), e.bot.bitrix, e.bot.id, peers, resyncOf(e.bot.portal)/2, force)
	if errors.Is(err, bitrix.ErrBotNotFoundV2) {
		return nil, managed.Waiting(b24v1.ReasonDependencyNotReady, "bot %d of ChatBot %s is gone from the portal; waiting for the ChatBot to register it again", e.bot.id, e.bot.name)
	}
	return list, err
}

// listPeers are the ids of the Portal's other bots whose BotCommands read Command.list (those
// of V2 bots, and ObserveOnly ones), so that one refresh reads them together.
func (e *botCommandExternal) listPeers(ctx context.Context) ([]int, error) {
	ns := e.bot.portal.Namespace
	var cmds b24v1.BotCommandList
	if err := e.client.List(ctx, &cmds, client.InNamespace(ns)); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list BotCommands: %v", err)
	}
	var bots b24v1.ChatBotList
	if err := e.client.List(ctx, &bots, client.InNamespace(ns), client.MatchingFields{refs.IndexPortalRef: e.bot.portal.Name}); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list ChatBots: %v", err)
	}
	reads := map[string]bool{}
	for i := range cmds.Items {
		c := &cmds.Items[i]
		reads[c.Spec.BotRef.Name] = reads[c.Spec.BotRef.Name] || c.ObserveOnly() // present: the bot has commands
	}
	var ids []int
	for i := range bots.Items {
		b := &bots.Items[i]
		observed, has := reads[b.Name]
		if has && b.Status.BotID != 0 && int(b.Status.BotID) != e.bot.id && (observed || b.KnownAPI() == b24v1.BotAPIV2) {
			ids = append(ids, int(b.Status.BotID))
		}
	}
	return ids, nil
}

func (e *botCommandExternal) observeV2(ctx context.Context, cmd *b24v1.BotCommand, force bool) (managed.Observation, error) {
	st := &cmd.Status
	obs := managed.Observation{RequeueAfter: resyncOf(e.bot.portal)}
	fresh := st.CommandID == 0 || st.BotID != int64(e.bot.id) || st.API != b24v1.BotAPIV2
	if fresh {
		// Not registered yet as far as status knows: a fresh list finds a command registered
		// before a crash lost the status write (or made outside the operator), to adopt it.
		force = true
	}
	list, err := e.commandsV2(ctx, force)
	if err != nil {
		return obs, err
	}
	var found *bitrix.CommandV2
	for i := range list {
		if c := &list[i]; fresh && strings.EqualFold(c.Command, cmd.Spec.Command) || !fresh && int64(c.ID) == st.CommandID {
			found = c
		}
	}
	if found == nil {
		obs.Missing = st.BotID != 0
		st.CommandID = 0
		return obs, nil
	}
	p := paramsV2(cmd)
	if fresh {
		// Adopted: the update applies the spec, whatever the command held.
		st.CommandID, st.BotID, st.API, st.AppliedHash = int64(found.ID), int64(e.bot.id), b24v1.BotAPIV2, ""
	}
	obs.Exists = true
	obs.Drift = commandDriftV2(cmd, *found)
	obs.UpToDate = st.AppliedHash == hashOf(p) && len(obs.Drift) == 0
	obs.Message = fmt.Sprintf("Command %d (/%s) is registered for V2 bot %d and in sync", st.CommandID, cmd.Spec.Command, st.BotID)
	return obs, nil
}

// commandDriftV2 names what the listed command shows that differs from the spec. Command.list reads
// titles and params back in the portal's language only, so they are compared with the
// translation whose title the list shows; a title that matches none differs.
func commandDriftV2(cmd *b24v1.BotCommand, remote bitrix.CommandV2) []string {
	p := paramsV2(cmd)
	var out []string
	for _, f := range []struct {
		name         string
		want, remote bool
	}{
		{"common", p.Common, remote.Common}, {"hidden", p.Hidden, remote.Hidden}, {"extranetSupport", p.ExtranetSupport, remote.ExtranetSupport},
	} {
		if f.want != f.remote {
			out = append(out, fmt.Sprintf("%s (remote %v)", f.name, f.remote))
		}
	}
	if remote.Title == "" || len(cmd.Spec.Translations) == 0 {
		return out
	}
	for _, t := range cmd.Spec.Translations {
		if t.Title == remote.Title {
			if t.Params != remote.Params {
				out = append(out, fmt.Sprintf("translations[%s].params (remote %q)", t.Language, remote.Params))
			}
			return out
		}
	}
	return append(out, fmt.Sprintf("title (remote %q, in the portal's language)", remote.Title))
}

func (e *botCommandExternal) createV2(ctx context.Context, cmd *b24v1.BotCommand) error {
	p := paramsV2(cmd)
	// Command.register is idempotent by (bot, command): a retry after a lost answer makes no
	// duplicate. Observe read a fresh list just before: a command that exists was adopted.
	got, err := e.bot.bitrix.CommandRegisterV2(ctx, e.bot.id, p)
	if err != nil {
		return e.v2CommandError(cmd, err)
	}
	st := &cmd.Status
	st.CommandID, st.BotID, st.API = int64(got.ID), int64(e.bot.id), b24v1.BotAPIV2
	st.Common, st.AppliedHash, st.Languages = p.Common, hashOf(p), languages(cmd)
	// The register answer carries no title: the next drift check compares the flags only.
	got.BotID, got.Command = e.bot.id, cmd.Spec.Command
	e.portals.NoteCommandV2(client.ObjectKeyFromObject(e.bot.portal), got, false)
	return nil
}

func (e *botCommandExternal) updateV2(ctx context.Context, cmd *b24v1.BotCommand) error {
	st := &cmd.Status
	p := paramsV2(cmd)
	var remove []string
	for _, lang := range st.Languages {
		if _, keep := p.Title[lang]; !keep {
			remove = append(remove, lang) // sent as null: removes the language
		}
	}
	if err := e.bot.bitrix.CommandUpdateV2(ctx, e.bot.id, int(st.CommandID), p, remove); err != nil {
		if errors.Is(err, bitrix.ErrCommandNotFound) {
			id := st.CommandID
			st.CommandID = 0
			return managed.Retryable(b24v1.ReasonProgressing, "command %d disappeared remotely; registering it again", id)
		}
		return e.v2CommandError(cmd, err)
	}
	st.Common, st.AppliedHash, st.Languages = p.Common, hashOf(p), languages(cmd)
	// The next drift check within this resync must not see the list from before the update.
	e.portals.NoteCommandV2(client.ObjectKeyFromObject(e.bot.portal), bitrix.CommandV2{
		ID: int(st.CommandID), BotID: e.bot.id, Command: cmd.Spec.Command, Common: p.Common, Hidden: p.Hidden, ExtranetSupport: p.ExtranetSupport,
	}, false)
	return nil
}

// v2CommandError turns the answers that need the user's attention into their conditions.
func (e *botCommandExternal) v2CommandError(cmd *b24v1.BotCommand, err error) error {
	switch {
	case errors.Is(err, bitrix.ErrBotNotFoundV2):
		return managed.Waiting(b24v1.ReasonDependencyNotReady, "bot %d of ChatBot %s is gone from the portal; waiting for the ChatBot to register it again", e.bot.id, e.bot.name)
	case errors.Is(err, bitrix.ErrBotOwnership):
		return managed.Stalled(b24v1.ReasonCodeTaken, "bot %d of ChatBot %s does not belong to application %s", e.bot.id, e.bot.name, rules.ApplicationKey(e.bot.portal))
	case errors.Is(err, bitrix.ErrCommandNameInvalid):
		return managed.Stalled(b24v1.ReasonInvalidSpec, "Bitrix24 refused the command name %q (COMMAND_NAME_INVALID)", cmd.Spec.Command)
	case errors.Is(err, bitrix.ErrCommandTitleRequired):
		return managed.Stalled(b24v1.ReasonInvalidSpec, "Bitrix24 needs a title for a command that is not hidden (COMMAND_TITLE_REQUIRED): add a translation")
	}
	return err
}

// ---- ObserveOnly ----

// observeOnly finds the command by its name in imbot.v2.Command.list (which lists the commands
// of V1 bots too; V1 itself has no list), records its id and reports what differs. It makes no
// write call.
func (e *botCommandExternal) observeOnly(ctx context.Context, cmd *b24v1.BotCommand, force bool) (managed.Observation, error) {
	st := &cmd.Status
	obs := managed.Observation{RequeueAfter: resyncOf(e.bot.portal)}
	if v2 := e.bot.portal.Status.V2Available; v2 == nil || !*v2 {
		st.CommandID = 0
		obs.Message = "the portal has no imbot.v2, and V1 has no list method: an ObserveOnly command cannot be found"
		return obs, nil
	}
	list, err := e.commandsV2(ctx, force)
	if err != nil {
		return obs, err
	}
	for _, c := range list {
		if strings.EqualFold(c.Command, cmd.Spec.Command) {
			st.CommandID, st.BotID, st.API, st.Common = int64(c.ID), int64(e.bot.id), e.api, c.Common
			obs.Exists = true
			obs.Drift = commandDriftV2(cmd, c)
			obs.UpToDate = len(obs.Drift) == 0
			return obs, nil
		}
	}
	st.CommandID = 0
	return obs, nil
}
