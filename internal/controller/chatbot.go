package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

// chatBotAdapter registers, updates and unregisters bots.
type chatBotAdapter struct {
	client  client.Client
	reader  client.Reader
	portals *Portals
}

// Orphan is false: the loop applies spec.deletionPolicy and its defaults.
func (a *chatBotAdapter) Orphan(*b24v1.ChatBot) bool { return false }

type chatBotExternal struct {
	*chatBotAdapter
	portal *b24v1.Portal
	bitrix *bitrix.Client
	// api is the bot API the bot uses; note says why, when it is not the one the user would
	// expect (V1 on a portal without imbot.v2).
	api  b24v1.BotAPI
	note string
	// id is the application the client acts as; rotate is set by Observe when a V2 bot is
	// still registered under a previous webhook identity (see rotateV2).
	id     Identity
	rotate bool
}

// DependsOn: a bot is registered through a Ready Portal.
func (a *chatBotAdapter) DependsOn(b *b24v1.ChatBot) []managed.Dependency {
	return []managed.Dependency{portalDependency(b.Spec.PortalRef.Name)}
}

func portalDependency(name string) managed.Dependency {
	return managed.Dependency{Kind: "Portal", Name: name, Object: &b24v1.Portal{}}
}

// DependedOnBy: chat apps, chats and commands need the bot to be removed cleanly, so they go
// first.
func (a *chatBotAdapter) DependedOnBy(*b24v1.ChatBot) []managed.Dependents {
	return []managed.Dependents{
		{Kind: "ChatApp", List: &b24v1.ChatAppList{}, Field: refs.IndexBotRef},
		{Kind: "Chat", List: &b24v1.ChatList{}, Field: refs.IndexBotRef},
		{Kind: "BotCommand", List: &b24v1.BotCommandList{}, Field: refs.IndexBotRef},
	}
}

// getPortal reads the named Portal. The loop has waited for it to be Ready, except on
// deletion, where a Portal that is not Ready (itself deleting) is still used.
func getPortal(ctx context.Context, c client.Client, ns, name string) (*b24v1.Portal, error) {
	var p b24v1.Portal
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, managed.Waiting(b24v1.ReasonDependencyNotReady, "Portal %s not found", name)
		}
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "read Portal %s: %v", name, err)
	}
	return &p, nil
}

// done is a Create, Update or Delete that reports the loop's own event.
func done(err error) (managed.Applied, error) { return managed.Applied{}, err }

func (a *chatBotAdapter) Connect(ctx context.Context, b *b24v1.ChatBot) (managed.External[*b24v1.ChatBot], error) {
	deleting := !b.DeletionTimestamp.IsZero()
	if deleting && b.Status.BotID == 0 {
		return &chatBotExternal{chatBotAdapter: a}, nil // nothing remote to remove
	}
	p, err := getPortal(ctx, a.client, b.Namespace, b.Spec.PortalRef.Name)
	if err != nil {
		return nil, err
	}
	e := &chatBotExternal{chatBotAdapter: a, portal: p, api: b.KnownAPI()}
	if e.api == "" {
		e.api = b24v1.BotAPIV1 // deleting: a bot never recorded as V2 was registered by V1
	}
	if !deleting {
		if e.api, e.note, err = chooseAPI(b, p); err != nil {
			return nil, err
		}
		if err := e.checkHolders(ctx, b); err != nil {
			return nil, err
		}
	}
	if e.bitrix, e.id, err = a.portals.CachedIdentity(ctx, p); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *chatBotExternal) Observe(ctx context.Context, b *b24v1.ChatBot, force bool) (managed.Observation, error) {
	if e.api == b24v1.BotAPIV2 {
		if b.ObserveOnly() {
			return e.observeOnlyV2(ctx, b, force)
		}
		return e.observeV2(ctx, b, force)
	}
	if b.Status.BotID != 0 && b.Status.API == "" {
		b.Status.API = b24v1.BotAPIV1 // registered before status.api existed
	}
	resync := resyncOf(e.portal)
	obs := managed.Observation{RequeueAfter: resync, Message: e.inSyncMessage(b)}
	if b.ObserveOnly() {
		return e.observe(ctx, b, obs, force)
	}
	adopting := b.Status.BotID == 0 && b.Spec.Adopt != nil
	if b.Status.BotID == 0 && !adopting {
		return obs, nil
	}
	if err := e.sameIdentity(b); err != nil {
		return obs, err
	}
	// One imbot.bot.list per Portal per resync serves every bot of the Portal.
	list, err := e.portals.BotList(ctx, client.ObjectKeyFromObject(e.portal), e.bitrix, resync/2, force)
	if err != nil {
		return obs, err
	}
	if adopting {
		// The existing bot named by its id is taken over in place (imbot.update); one that is
		// not there is registered by code, as without adopt.
		info, ok := list[int(b.Spec.Adopt.ID)]
		if !ok {
			return obs, nil
		}
		if err := adoptedCode(b, info.Code); err != nil {
			return obs, err
		}
		b.Status.BotID, b.Status.API = int64(info.ID), b24v1.BotAPIV1
	}
	if info, ok := list[int(b.Status.BotID)]; !ok || info.Code != b.Spec.Code {
		obs.Missing = true
		return obs, nil
	}
	obs.Exists = true
	params, err := e.params(ctx, b)
	if err != nil {
		return obs, err
	}
	obs.UpToDate = b.Status.AppliedHash == hashOf(params) && b.Status.ApplicationKey == e.id.AppKey
	return obs, nil
}

// observe finds an ObserveOnly bot by its CODE in the Portal's bot list, records its id and
// reports what the list shows that differs from the spec (the name and the Open Channels
// flag: Bitrix24 reads nothing else back).
func (e *chatBotExternal) observe(ctx context.Context, b *b24v1.ChatBot, obs managed.Observation, force bool) (managed.Observation, error) {
	list, err := e.portals.BotList(ctx, client.ObjectKeyFromObject(e.portal), e.bitrix, obs.RequeueAfter/2, force)
	if err != nil {
		return obs, err
	}
	var info bitrix.BotInfo
	if b.Spec.Adopt != nil && b.Status.BotID == 0 {
		if i, ok := list[int(b.Spec.Adopt.ID)]; ok {
			if err := adoptedCode(b, i.Code); err != nil {
				return obs, err
			}
			info = i
		}
	} else {
		for _, i := range list {
			if i.Code == b.Spec.Code {
				info = i
			}
		}
	}
	if info.ID == 0 {
		b.Status.BotID = 0
		return obs, nil
	}
	b.Status.BotID, b.Status.ApplicationKey = int64(info.ID), e.id.AppKey
	obs.Exists = true
	if name := deref(b.Spec.Properties.Name); name != "" && name != info.Name {
		obs.Drift = append(obs.Drift, fmt.Sprintf("properties.name (remote %q)", info.Name))
	}
	if openline := b.Spec.Type != nil && *b.Spec.Type == b24v1.BotTypeOpenLine || b.Spec.Openline != nil && *b.Spec.Openline; openline != info.Openline {
		obs.Drift = append(obs.Drift, fmt.Sprintf("openline (remote %v)", info.Openline))
	}
	obs.UpToDate = len(obs.Drift) == 0
	return obs, nil
}

func (e *chatBotExternal) Create(ctx context.Context, b *b24v1.ChatBot) (managed.Applied, error) {
	create := e.create
	if e.api == b24v1.BotAPIV2 {
		create = e.createV2
	}
	if err := create(ctx, b); err != nil {
		return managed.Applied{}, err
	}
	// The message the next drift check reports (with the new bot id), so that check writes
	// nothing.
	return managed.Applied{Message: e.inSyncMessage(b)}, nil
}

// inSyncMessage is the Ready message of a bot in sync.
func (e *chatBotExternal) inSyncMessage(b *b24v1.ChatBot) string {
	if e.api == b24v1.BotAPIV2 {
		return fmt.Sprintf("Bot %d is registered through V2 (%s events) and in sync", b.Status.BotID, eventMode(b))
	}
	return fmt.Sprintf("Bot %d is registered and in sync", b.Status.BotID) + e.note
}

func (e *chatBotExternal) create(ctx context.Context, b *b24v1.ChatBot) error {
	// The controller is the final authority on the bot limit: two creates can race past the
	// webhook, so only the first maxBots of the application (by creation time, namespace,
	// name) are registered, and the rest make no remote call.
	if err := e.checkLimit(ctx, b); err != nil {
		return err
	}
	params, err := e.params(ctx, b)
	if err != nil {
		return err
	}
	key := client.ObjectKeyFromObject(e.portal)
	// A fresh list: with a cached one, a CODE another application registered since would be
	// taken for a new bot of ours (register returns its BOT_ID) and never reported CodeTaken.
	list, err := e.portals.BotList(ctx, key, e.bitrix, 0, true)
	if err != nil {
		return err
	}
	existing := 0
	for _, info := range list {
		if info.Code == b.Spec.Code {
			existing = info.ID
		}
	}
	id := existing
	if existing == 0 {
		// imbot.register returns the existing bot for a known CODE and creates nothing, so a
		// retry after a crash cannot make a duplicate.
		if id, err = e.bitrix.Register(ctx, params); err != nil {
			return err
		}
	} else {
		// The CODE is already on the portal (our bot from before a crash, or another
		// application's). Adopt it with imbot.update instead of registering again: at the
		// limit, Bitrix24 counts bots before it looks the CODE up and would answer
		// MAX_COUNT_ERROR for our own bot; and register neither applies properties nor tells
		// whose bot it is. The update applies the spec (handlers included) and, with
		// APP_ID_ERROR, reveals a CODE taken by another application.
		if err := e.bitrix.Update(ctx, id, params); err != nil {
			if errors.Is(err, bitrix.ErrAppIDError) {
				b.Status.BotID = 0
				return codeTaken(b)
			}
			return err
		}
	}
	b.Status.BotID = int64(id)
	b.Status.API, b.Status.EventMode = b24v1.BotAPIV1, ""
	b.Status.AppliedHash = hashOf(params)
	b.Status.ApplicationKey = e.id.AppKey
	e.portals.NoteBot(key, bitrix.BotInfo{ID: id, Code: b.Spec.Code, Name: params.Properties.Name})
	return nil
}

// adoptedCode refuses a bot named by spec.adopt.id whose CODE is not spec.code: a bot's code
// cannot change, and the bot-code rules (one ChatBot per code on a portal) key on it.
func adoptedCode(b *b24v1.ChatBot, remote string) error {
	if remote == b.Spec.Code {
		return nil
	}
	return managed.Stalled(b24v1.ReasonInvalidSpec, "bot %d named by spec.adopt.id has code %q, not spec.code %q: fix spec.adopt.id, or create a ChatBot with code %q to adopt it",
		b.Spec.Adopt.ID, remote, b.Spec.Code, remote)
}

// sameIdentity checks that a registered V1 bot still belongs to the Portal's webhook identity.
// The same identity moved between spec and Secret only changes the key's form, which is
// recorded again; another identity cannot take a V1 bot over (v1 has no token rotation).
func (e *chatBotExternal) sameIdentity(b *b24v1.ChatBot) error {
	key := b.Status.ApplicationKey
	switch {
	case key == "" || key == e.id.AppKey:
		return nil
	case e.id.Owns(key):
		b.Status.ApplicationKey = e.id.AppKey
		return nil
	}
	return managed.Stalled(b24v1.ReasonInvalidSpec, "bot %d was registered through V1 by application %s, and the Portal now acts as %s: "+
		"a V1 bot cannot move to another webhook identity (only V2 bots rotate their token); set the Portal's previous identity back, "+
		"or delete the bot in the portal and reconcile this ChatBot to register it again", b.Status.BotID, key, e.id.AppKey)
}

func codeTaken(b *b24v1.ChatBot) error {
	return managed.Stalled(b24v1.ReasonCodeTaken, "code %q belongs to a bot of another application on this portal; choose another code", b.Spec.Code)
}

func (e *chatBotExternal) Update(ctx context.Context, b *b24v1.ChatBot) (managed.Applied, error) {
	if e.api == b24v1.BotAPIV2 {
		return done(e.updateV2(ctx, b))
	}
	return done(e.update(ctx, b))
}

func (e *chatBotExternal) update(ctx context.Context, b *b24v1.ChatBot) error {
	params, err := e.params(ctx, b)
	if err != nil {
		return err
	}
	if err := e.bitrix.Update(ctx, int(b.Status.BotID), params); err != nil {
		switch {
		case errors.Is(err, bitrix.ErrAppIDError):
			if b.Status.AppliedHash == "" {
				b.Status.BotID = 0 // adopted or observed, never applied: another application's bot
			}
			return codeTaken(b)
		case errors.Is(err, bitrix.ErrBotNotFound):
			// Gone between the list and the update: register it again on the next pass.
			id := b.Status.BotID
			b.Status.BotID = 0
			return managed.Retryable(b24v1.ReasonProgressing, "bot %d disappeared remotely; registering it again", id)
		}
		return err
	}
	b.Status.AppliedHash = hashOf(params)
	b.Status.ApplicationKey = e.id.AppKey
	return nil
}

// Delete unregisters the bot; the loop has waited for its chat apps and chats.
func (e *chatBotExternal) Delete(ctx context.Context, b *b24v1.ChatBot) (managed.Applied, error) {
	if b.Status.BotID == 0 {
		return managed.Applied{Noop: true}, nil
	}
	// A bot another ChatBot holds (two objects came to record one remote bot) stays.
	if held, err := heldElsewhere(ctx, e.client, b, e.portal); err != nil || held {
		return managed.Applied{Noop: true}, err
	}
	if e.api == b24v1.BotAPIV2 {
		return done(notOursV2(e.unregisterV2(ctx, b)))
	}
	return done(notOurs(e.bitrix.Unregister(ctx, int(b.Status.BotID))))
}

// checkLimit applies the ordering rule of the bot limit.
func (e *chatBotExternal) checkLimit(ctx context.Context, b *b24v1.ChatBot) error {
	appKey := e.id.AppKey
	holders, err := botsOfApplication(ctx, e.client, appKey)
	if err != nil {
		return err
	}
	max := rules.MaxBots(e.portal)
	for i, h := range holders {
		if h.Namespace == b.Namespace && h.Name == b.Name {
			if i < max {
				return nil
			}
			break
		}
	}
	names := make([]string, 0, max)
	elsewhere := 0
	for _, h := range holders[:min(max, len(holders))] {
		if h.Namespace != b.Namespace {
			elsewhere++ // another team's bots are counted, not named
			continue
		}
		names = append(names, h.Namespace+"/"+h.Name)
	}
	switch {
	case elsewhere == 1:
		names = append(names, otherNamespace)
	case elsewhere > 1:
		names = append(names, fmt.Sprintf("%d objects in other namespaces", elsewhere))
	}
	return managed.Stalled(b24v1.ReasonBotLimitExceeded, "application %s allows %d bots, held by %s", appKey, max, strings.Join(names, ", "))
}

// botsOfApplication lists the ChatBots of one application across every namespace and Portal,
// in the order that decides who holds the limit (rules.LimitHolders, as the webhook decides).
func botsOfApplication(ctx context.Context, c client.Client, appKey string) ([]*b24v1.ChatBot, error) {
	var portals b24v1.PortalList
	if err := c.List(ctx, &portals); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list Portals: %v", err)
	}
	byKey := map[types.NamespacedName]*b24v1.Portal{}
	for i := range portals.Items {
		byKey[client.ObjectKeyFromObject(&portals.Items[i])] = &portals.Items[i]
	}
	var list b24v1.ChatBotList
	if err := c.List(ctx, &list); err != nil {
		return nil, managed.Retryable(b24v1.ReasonRemoteError, "list ChatBots: %v", err)
	}
	bots := make([]*b24v1.ChatBot, len(list.Items))
	for i := range list.Items {
		bots[i] = &list.Items[i]
	}
	return rules.LimitHolders(appKey, bots, func(b *b24v1.ChatBot) *b24v1.Portal {
		return byKey[types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.PortalRef.Name}]
	}), nil
}

var botTypes = map[b24v1.BotType]string{
	b24v1.BotTypeBot: "B", b24v1.BotTypeOpenLine: "O", b24v1.BotTypeSupervisor: "S", b24v1.BotTypeHuman: "H",
}

// params translates the spec into what imbot.register / imbot.update send.
func (e *chatBotExternal) params(ctx context.Context, b *b24v1.ChatBot) (bitrix.BotParams, error) {
	s := b.Spec
	typ := b24v1.BotTypeBot
	if s.Type != nil {
		typ = *s.Type
	}
	openline := typ == b24v1.BotTypeOpenLine || (s.Openline != nil && *s.Openline)
	p := bitrix.BotParams{Code: s.Code, Type: botTypes[typ], Openline: openline}
	h := rules.ResolvedHandlers(b)
	if s.EventHandler != nil {
		p.EventHandler = string(*s.EventHandler)
	} else {
		p.EventMessageAdd, p.EventWelcomeMessage, p.EventBotDelete = h.MessageAdd, h.WelcomeMessage, h.BotDelete
		// Bitrix24 uses the update and delete handlers only for these bots.
		if typ == b24v1.BotTypeSupervisor || typ == b24v1.BotTypeOpenLine || openline {
			p.EventMessageUpdate, p.EventMessageDelete = h.MessageUpdate, h.MessageDelete
		}
	}
	pr := s.Properties
	p.Properties = bitrix.BotProperties{
		Name: deref(pr.Name), LastName: deref(pr.LastName), Email: deref(pr.Email),
		Birthday: deref(pr.Birthday), WorkPosition: deref(pr.WorkPosition), Website: deref(pr.Website),
		Gender: deref(pr.Gender),
	}
	if pr.Color != nil {
		p.Properties.Color = string(*pr.Color)
	}
	if pr.Avatar != nil {
		photo, err := readConfigMapKey(ctx, e.reader, b.Namespace, pr.Avatar.ConfigMapKeyRef)
		if err != nil {
			return p, err
		}
		p.Properties.Photo = photo
	}
	return p, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// hashOf fingerprints what would be sent, image bytes included.
func hashOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
