package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

const (
	// A batch stays open for the commands of other Chats of the same portal until none came
	// for chatBatchQuiet, and at most for chatBatchMaxWait: a lone reconcile waits little,
	// while a resync of many chats, whose reads keep coming, fills its batches.
	chatBatchQuiet   = 200 * time.Millisecond
	chatBatchMaxWait = time.Second
	// chatWorkers is the least number of concurrent Chat reconciles. A Chat reconcile spends
	// its time waiting for a shared batch, and a batch fills only with as many Chats as are
	// reconciled at once: 50 workers fill two batches of 25 reads (or one of 50 lookups).
	chatWorkers = 2 * bitrix.MaxBatchCommands
	// maxBatchedAvatar bounds the avatar that imbot.chat.add may carry inside a batch; a
	// bigger one goes in a call of its own, so a batch request stays small.
	maxBatchedAvatar = 32 << 10
)

func (s *setup) chat() error {
	c := s.mgr.GetClient()
	r := newReconciler(s, "Chat", func() *b24v1.Chat { return &b24v1.Chat{} },
		&chatAdapter{client: c, reader: s.content, portals: s.shared.Portals,
			batches: newChatBatcher(chatBatchQuiet, chatBatchMaxWait)})
	opts := s.controllerOptions()
	opts.MaxConcurrentReconciles = max(opts.MaxConcurrentReconciles, chatWorkers)
	b := ctrl.NewControllerManagedBy(s.mgr).Named("chat").
		For(&b24v1.Chat{}, forPredicates()).
		WithOptions(opts).
		// A chat waits for its bot's id.
		Watches(&b24v1.ChatBot{}, byIndex(c, &b24v1.ChatList{}, refs.IndexBotRef), builder.WithPredicates(botIDOrLifecycleChanged())).
		// A Chat leaving frees its entity for a Chat refused for it, in any namespace.
		Watches(&b24v1.Chat{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return sameEntity(ctx, c, o.(*b24v1.Chat))
		}), builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(e event.UpdateEvent) bool { return !e.ObjectNew.GetDeletionTimestamp().IsZero() },
		}))
	return watchNamespacePolicy(watchRefs(b, c, &b24v1.ChatList{}), c, &b24v1.ChatList{}).Complete(r)
}

// sameEntity lists the other Chats with ch's entity, in every namespace.
func sameEntity(ctx context.Context, c client.Client, ch *b24v1.Chat) []reconcile.Request {
	var list b24v1.ChatList
	if err := c.List(ctx, &list, client.MatchingFields{refs.IndexChatEntity: rules.ChatEntityKey(ch)}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if key := client.ObjectKeyFromObject(&list.Items[i]); key != client.ObjectKeyFromObject(ch) {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
		}
	}
	return reqs
}

// chatAdapter creates group chats on behalf of a bot, keeps them as the spec says, and makes
// the bot leave them on deletion.
type chatAdapter struct {
	client  client.Client
	reader  client.Reader
	portals *Portals
	batches *chatBatcher
}

// DependsOn: a chat is created by a bot that has an id.
func (a *chatAdapter) DependsOn(ch *b24v1.Chat) []managed.Dependency {
	return []managed.Dependency{botDependency(ch.Spec.BotRef.Name)}
}

// Orphan is false: the loop applies spec.deletionPolicy and its defaults.
func (a *chatAdapter) Orphan(*b24v1.Chat) bool { return false }

type chatExternal struct {
	*chatAdapter
	// bot is nil while deleting when no bot is left.
	bot *boundBot
	// avatar is the spec's avatar, read once per reconcile.
	avatar []byte
	// plan is what Observe found to change, for Update.
	plan chatPlan
	// heldElsewhere (deleting only): another Chat holds the remote chat, which stays.
	heldElsewhere bool
}

func (a *chatAdapter) Connect(ctx context.Context, ch *b24v1.Chat) (managed.External[*b24v1.Chat], error) {
	deleting := !ch.DeletionTimestamp.IsZero()
	bot, err := connectBot(ctx, a.client, a.portals, ch.Namespace, ch.Spec.BotRef.Name, deleting)
	if err != nil {
		return nil, err
	}
	e := &chatExternal{chatAdapter: a, bot: bot}
	if bot != nil {
		// The controller's word on one Chat per entity on a portal, which admission checks
		// only when the ChatBot and Portal already exist.
		host := rules.PortalHost(bot.portal.Spec.URL)
		holder, same, err := chatEntityHolder(ctx, a.client, ch, host)
		if err != nil {
			return nil, err
		}
		if deleting {
			// Never leave or hand over a chat another Chat holds.
			e.heldElsewhere = holder != nil || same
		} else if holder != nil {
			et, eid := rules.ChatEntity(ch)
			return nil, managed.Stalled(b24v1.ReasonInvalidSpec, "entity type %q id %q is already used on the portal %s by %s, which holds it; the entity identifies a chat on a portal, so set a different spec.entity",
				et, eid, host, describeChatFor(holder, ch.Namespace))
		}
	}
	if !deleting && ch.Spec.Avatar != nil {
		if e.avatar, err = readConfigMapKey(ctx, a.reader, ch.Namespace, ch.Spec.Avatar.ConfigMapKeyRef); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *chatExternal) Observe(ctx context.Context, ch *b24v1.Chat, force bool) (managed.Observation, error) {
	st := &ch.Status
	// Freshness lives in the loop's memory and in metrics, never in status.
	st.LastVerified = nil
	resync := resyncOf(e.bot.portal)
	// Whatever happens now (a read, a create, an update) counts as this resync's check.
	obs := managed.Observation{RequeueAfter: nextCheck(time.Now(), resync), Exact: true}
	if st.ChatID == 0 && ch.Spec.Adopt != nil {
		// An existing chat named by its id: read it below (the bot must be a member).
		st.ChatID = ch.Spec.Adopt.ID
	} else if st.ChatID == 0 {
		// Look the chat up by its entity before creating it: imbot.chat.add is not idempotent,
		// and an add whose answer was lost (a crash before the status write, an ambiguous
		// failure) left a chat behind. This lookup is what makes the retry safe.
		id, found, err := e.lookup(ctx, ch)
		if err != nil || !found {
			return obs, err
		}
		st.ChatID, st.BotID = int64(id), int64(e.bot.id)
	} else if !force && !managed.Due(ctx, resync) && !e.changed(ch) {
		// Nothing asks for a remote read: trust the last one.
		obs.Exists, obs.UpToDate = true, true
		obs.RequeueAfter = nextCheck(managed.LastVerified(ctx), resync)
		obs.Message = inSyncMessage(ch)
		return obs, nil
	} else if !force && !e.changed(ch) && readyFor(ch) {
		// A routine drift check of a chat that is Ready as specified (also the first one after
		// a restart) waits behind new and changed chats for the portal's rate budget.
		ctx = bitrix.Routine(ctx)
	}

	obs.Checked = true
	d, members, err := e.read(ctx, int(st.ChatID))
	if errors.Is(err, bitrix.ErrAccessError) {
		// The chat is gone, or the bot is no longer in it. Which one, the entity tells.
		id, found, lerr := e.lookup(ctx, ch)
		switch {
		case lerr != nil:
			return obs, lerr
		case !found:
			st.ChatID, st.AvatarHash = 0, ""
			obs.Missing = true
			return obs, nil
		case id != int(st.ChatID):
			st.ChatID = int64(id)
			d, members, err = e.read(ctx, id)
		}
	}
	if errors.Is(err, bitrix.ErrAccessError) {
		et, eid := rules.ChatEntity(ch)
		return obs, managed.Stalled(b24v1.ReasonRemoteError,
			"bot %d is not a member of chat %d (entity %s/%s): it was removed from the chat, or the bot was registered again; add the bot back to the chat, or use another entity to create a new chat",
			e.bot.id, st.ChatID, et, eid)
	}
	if err != nil {
		return obs, e.bot.botGone(err)
	}
	st.BotID = int64(e.bot.id)
	e.plan = e.diff(ch, d, members)
	obs.Exists = true
	obs.UpToDate = e.plan.empty()
	obs.Drift = e.plan.fields()
	obs.Message = inSyncMessage(ch)
	return obs, nil
}

// nextCheck is how long until the drift check after one made at last. Checks are aligned on
// a grid of a tenth of the resync interval: the checks of all chats that fall due within the
// same tenth run at once and share batches, where the loop's jitter would spread them out into
// a small batch each. No check runs later than the jitter would make it (10%).
func nextCheck(last time.Time, resync time.Duration) time.Duration {
	due := last.Add(resync)
	at := due.Truncate(resync / 10)
	if at.Before(due) {
		at = at.Add(resync / 10)
	}
	return max(time.Until(at), time.Second)
}

// readyFor says the chat is Ready for its current generation.
func readyFor(ch *b24v1.Chat) bool {
	c := meta.FindStatusCondition(ch.Status.Conditions, b24v1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && ch.Status.ObservedGeneration == ch.Generation
}

// changed says the spec may differ from the chat as last read: a new generation, a new
// avatar, or another bot.
func (e *chatExternal) changed(ch *b24v1.Chat) bool {
	st := &ch.Status
	return ch.Generation != st.ObservedGeneration || st.BotID != int64(e.bot.id) ||
		(ch.Spec.Avatar != nil && hashOf(e.avatar) != st.AvatarHash)
}

func (e *chatExternal) Create(ctx context.Context, ch *b24v1.Chat) (managed.Applied, error) {
	if err := e.create(ctx, ch); err != nil {
		return managed.Applied{}, err
	}
	// The message the next drift check reports, so that check writes nothing.
	return managed.Applied{Message: inSyncMessage(ch)}, nil
}

func inSyncMessage(ch *b24v1.Chat) string { return fmt.Sprintf("Chat %d is in sync", ch.Status.ChatID) }

func (e *chatExternal) create(ctx context.Context, ch *b24v1.Chat) error {
	p, err := e.addParams(ch)
	if err != nil {
		return err
	}
	var id int
	if len(p.Avatar) > maxBatchedAvatar {
		id, err = e.bot.bitrix.ChatAdd(ctx, p)
	} else {
		id, err = e.addBatched(ctx, p)
	}
	if err != nil {
		// Never repeated blindly (the client refuses to, and so does a batch): the next pass
		// looks the chat up by its entity before any new add.
		return e.bot.botGone(err)
	}
	st := &ch.Status
	st.ChatID, st.BotID = int64(id), int64(e.bot.id)
	st.AvatarHash = ""
	if ch.Spec.Avatar != nil {
		st.AvatarHash = hashOf(e.avatar)
	}
	return nil
}

var chatTypes = map[string]string{"Chat": bitrix.ChatTypeChat, "Open": bitrix.ChatTypeOpen}

// addParams translates the spec into what imbot.chat.add sends.
func (e *chatExternal) addParams(ch *b24v1.Chat) (bitrix.ChatAddParams, error) {
	s := ch.Spec
	et, eid := rules.ChatEntity(ch)
	p := bitrix.ChatAddParams{
		BotID: e.bot.id, Type: bitrix.ChatTypeChat, Title: deref(s.Title), Description: deref(s.Description),
		Message: deref(s.WelcomeMessage), Avatar: e.avatar, EntityType: et, EntityID: eid,
		OwnerID: int(deref(s.OwnerID)),
	}
	if s.Type != nil {
		p.Type = chatTypes[*s.Type]
	}
	if s.Color != nil {
		p.Color = string(*s.Color)
	}
	for _, u := range s.Users {
		p.Users = append(p.Users, int(u))
	}
	// The owner must be a member.
	if p.OwnerID != 0 && !slices.Contains(p.Users, p.OwnerID) {
		p.Users = append(p.Users, p.OwnerID)
	}
	if len(p.Users) == 0 {
		return p, managed.Stalled(b24v1.ReasonInvalidSpec, "users: a chat needs at least one member besides the bot (Bitrix24 refuses an empty USERS)")
	}
	return p, nil
}

// addBatched runs imbot.chat.add inside the portal's shared batch. A batch is never repeated
// once it may have run, so the add is never repeated either: an ambiguous failure leads to the
// lookup by entity.
func (e *chatExternal) addBatched(ctx context.Context, p bitrix.ChatAddParams) (int, error) {
	res, err := e.batch(ctx, bitrix.ChatAddCommand("a", p))
	if err != nil {
		return 0, err
	}
	return res.ChatAdded("a", p)
}

// chatPlan is what a reconcile changes on an existing chat, in the order it is applied.
type chatPlan struct {
	title, color string
	avatar       []byte
	add          []int // one imbot.chat.user.add with the list
	owner        int   // hand the chat to this member
	remove       []int // one imbot.chat.user.delete each
	// ownerStuck: ownerId differs from the owner, who is not the bot; only the owner can hand over.
	ownerStuck int
}

func (p chatPlan) empty() bool {
	return p.title == "" && p.color == "" && p.avatar == nil && len(p.add) == 0 && p.owner == 0 &&
		len(p.remove) == 0 && p.ownerStuck == 0
}

// fields names what the plan would change, for the Synced condition of an ObserveOnly chat.
func (p chatPlan) fields() []string {
	var out []string
	if p.title != "" {
		out = append(out, "title")
	}
	if p.color != "" {
		out = append(out, "color")
	}
	if p.avatar != nil {
		out = append(out, "avatar")
	}
	if len(p.add) > 0 || len(p.remove) > 0 {
		out = append(out, fmt.Sprintf("users (%d to add, %d to remove)", len(p.add), len(p.remove)))
	}
	if p.owner != 0 || p.ownerStuck != 0 {
		out = append(out, "ownerId")
	}
	return out
}

// diff compares the spec with the chat as the portal reported it. Fields the spec leaves out
// are left as they are; the members are exactly the spec's users, the owner and the bot.
func (e *chatExternal) diff(ch *b24v1.Chat, d bitrix.Dialog, members []int) chatPlan {
	s, bot := ch.Spec, e.bot.id
	var p chatPlan
	if s.Title != nil && *s.Title != d.Name {
		p.title = *s.Title
	}
	// imbot.dialog.get reports the colour as hex.
	if s.Color != nil {
		if hex, _ := bitrix.ColorHex(string(*s.Color)); !strings.EqualFold(hex, d.Color) {
			p.color = string(*s.Color)
		}
	}
	// imbot.dialog.get gives the avatar's URL, not its bytes: compare with what was sent.
	if s.Avatar != nil && (hashOf(e.avatar) != ch.Status.AvatarHash || d.Avatar == "") {
		p.avatar = e.avatar
	}
	owner := int(deref(s.OwnerID))
	want := map[int]bool{}
	for _, u := range s.Users {
		want[int(u)] = true
	}
	if owner != 0 {
		want[owner] = true
	}
	for u := range want {
		if u != bot && !slices.Contains(members, u) {
			p.add = append(p.add, u)
		}
	}
	slices.Sort(p.add)
	if owner != 0 && owner != d.Owner {
		if d.Owner == bot {
			p.owner = owner
		} else {
			p.ownerStuck = owner
		}
	}
	for _, m := range members {
		// Never the bot, never the owner (before or after a hand-over).
		if !want[m] && m != bot && m != d.Owner {
			p.remove = append(p.remove, m)
		}
	}
	return p
}

func (e *chatExternal) Update(ctx context.Context, ch *b24v1.Chat) (managed.Applied, error) {
	return done(e.update(ctx, ch))
}

// A failed update is read again on the next pass, whatever did or did not apply: the loop
// forgets the last verification of a reconcile that failed.
func (e *chatExternal) update(ctx context.Context, ch *b24v1.Chat) error {
	st, p := &ch.Status, e.plan
	chat, bot, c := int(st.ChatID), e.bot.id, e.bot.bitrix
	// Bitrix24 answers WRONG_REQUEST to an update that changes nothing. Right after a read it
	// means someone set the same value meanwhile (or, for the avatar, whose bytes cannot be
	// read back, that the chat already has it): the wanted state holds.
	noop := func(err error) error {
		if errors.Is(err, bitrix.ErrWrongRequest) {
			return nil
		}
		return err
	}
	if p.title != "" {
		if err := noop(c.ChatUpdateTitle(ctx, bot, chat, p.title)); err != nil {
			return err
		}
	}
	if p.color != "" {
		if err := noop(c.ChatUpdateColor(ctx, bot, chat, p.color)); err != nil {
			return err
		}
	}
	if p.avatar != nil {
		if err := noop(c.ChatUpdateAvatar(ctx, bot, chat, p.avatar)); err != nil {
			return err
		}
		st.AvatarHash = hashOf(p.avatar)
	}
	// Here WRONG_REQUEST means the members or the owner changed since the read (someone
	// added the same user, took the chat over): read again and retry.
	raced := func(what string, err error) error {
		if errors.Is(err, bitrix.ErrWrongRequest) {
			return managed.Retryable(b24v1.ReasonRemoteError, "%s of chat %d changed since it was read; reading it again", what, chat)
		}
		return e.bot.botGone(err)
	}
	// Members first: the new owner must be one.
	if len(p.add) > 0 {
		if err := c.ChatUserAdd(ctx, bot, chat, p.add); err != nil {
			return raced("the members", err)
		}
	}
	if p.owner != 0 {
		if err := c.ChatSetOwner(ctx, bot, chat, p.owner); err != nil {
			return raced("the owner", err)
		}
	}
	for _, u := range p.remove {
		// A user who left meanwhile answers WRONG_REQUEST: already done.
		if err := noop(c.ChatUserDelete(ctx, bot, chat, u)); err != nil {
			return e.bot.botGone(err)
		}
	}
	if p.ownerStuck != 0 {
		return managed.Stalled(b24v1.ReasonRemoteError, "chat %d is owned by another user, and only the owner can hand it over: ownerId %d cannot be applied", chat, p.ownerStuck)
	}
	return nil
}

// Delete makes the bot leave the chat, handing it over first when the bot owns it.
func (e *chatExternal) Delete(ctx context.Context, ch *b24v1.Chat) (managed.Applied, error) {
	st := &ch.Status
	if e.bot == nil || e.heldElsewhere || (st.BotID != 0 && st.BotID != int64(e.bot.id)) {
		// The bot is gone (or was registered again): a deleted bot is no longer in any chat.
		return managed.Applied{}, nil
	}
	return e.leave(ctx, ch)
}

func (e *chatExternal) leave(ctx context.Context, ch *b24v1.Chat) (managed.Applied, error) {
	st := &ch.Status
	chat := int(st.ChatID)
	if chat == 0 {
		// An add may have run without its answer being recorded.
		id, found, err := e.lookup(ctx, ch)
		if err != nil || !found {
			return done(e.left(err))
		}
		chat = id
	}
	d, members, err := e.read(ctx, chat)
	if err != nil {
		return done(e.left(err))
	}
	c, bot := e.bot.bitrix, e.bot.id
	if d.Owner == bot {
		heir := heirOf(ch, members, bot)
		if heir == 0 {
			return managed.Applied{Event: &managed.Event{Type: corev1.EventTypeWarning, Reason: "BotStaysInChat",
				Message: fmt.Sprintf("Bot %d owns chat %d and neither ownerId nor users names a member to hand it to: the bot stays in the chat", bot, chat)}}, nil
		}
		if err := c.ChatSetOwner(ctx, bot, chat, heir); err != nil {
			return done(e.left(err))
		}
	}
	return done(e.left(c.ChatLeave(ctx, bot, chat)))
}

// left treats a bot or chat that is already gone, or a bot no longer in the chat, as done.
func (e *chatExternal) left(err error) error {
	if err == nil || bitrix.IsGone(err) || errors.Is(err, bitrix.ErrAccessError) {
		return nil
	}
	return err
}

// heirOf is who takes the chat over from the bot: ownerId, else the first of users, among the
// current members.
func heirOf(ch *b24v1.Chat, members []int, bot int) int {
	var candidates []int
	if ch.Spec.OwnerID != nil {
		candidates = append(candidates, int(*ch.Spec.OwnerID))
	}
	for _, u := range ch.Spec.Users {
		candidates = append(candidates, int(u))
	}
	for _, u := range candidates {
		if u != bot && slices.Contains(members, u) {
			return u
		}
	}
	return 0
}

// lookup finds the chat by its entity (imbot.chat.get), in the portal's shared batch.
func (e *chatExternal) lookup(ctx context.Context, ch *b24v1.Chat) (int, bool, error) {
	et, eid := rules.ChatEntity(ch)
	res, err := e.batch(ctx, bitrix.ChatGetCommand("g", e.bot.id, et, eid))
	if err != nil {
		return 0, false, err
	}
	return res.ChatID("g")
}

// read reads the chat's dialog and members (imbot.dialog.get, imbot.chat.user.list), in the
// portal's shared batch.
func (e *chatExternal) read(ctx context.Context, chatID int) (bitrix.Dialog, []int, error) {
	res, err := e.batch(ctx,
		bitrix.DialogGetCommand("d", e.bot.id, chatID),
		bitrix.ChatUserListCommand("u", e.bot.id, chatID))
	if err != nil {
		return bitrix.Dialog{}, nil, err
	}
	d, err := res.Dialog("d")
	if err != nil {
		return d, nil, err
	}
	members, err := res.UserList("u")
	return d, members, err
}

func (e *chatExternal) batch(ctx context.Context, cmds ...bitrix.BatchCommand) (bitrix.BatchResult, error) {
	return e.batches.do(ctx, client.ObjectKeyFromObject(e.bot.portal), e.bot.bitrix, cmds)
}
