package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
)

// chooseAPI decides the bot API of a ChatBot that is not being deleted: the one it is
// registered with, else spec.api, else what its API-specific fields imply, else V2 where the
// portal has imbot.v2 and V1 where it has not. It refuses a change of API once registered, a
// V2 bot on a portal without imbot.v2, and fields the chosen API lacks. note is appended to
// the Ready message when the choice needs explaining.
func chooseAPI(b *b24v1.ChatBot, p *b24v1.Portal) (api b24v1.BotAPI, note string, err error) {
	registered := b.Status.API
	if registered == "" && b.Status.BotID != 0 {
		registered = b24v1.BotAPIV1 // registered before spec.api existed
	}
	if registered != "" && b.Spec.API != nil && *b.Spec.API != registered {
		return "", "", managed.Stalled(b24v1.ReasonInvalidSpec,
			"spec.api is %s but the bot is registered with %s, and a registered bot cannot change its API: "+
				"set spec.api back to %s, or create a new ChatBot with another code for the %s bot and delete this one",
			*b.Spec.API, registered, registered, *b.Spec.API)
	}
	hasV2 := p.Status.V2Available != nil && *p.Status.V2Available
	api = b.KnownAPI()
	if api == "" {
		if p.Status.V2Available == nil {
			return "", "", managed.Waiting(b24v1.ReasonDependencyNotReady, "Portal %s has not yet reported whether it has imbot.v2", p.Name)
		}
		api = b24v1.BotAPIV1
		if hasV2 {
			api = b24v1.BotAPIV2
		}
	}
	if api == b24v1.BotAPIV1 && b.Spec.API == nil && p.Status.V2Available != nil && !hasV2 {
		note = "; registered through V1 because the portal has no imbot.v2"
	}
	if api == b24v1.BotAPIV2 {
		if p.Status.V2Available != nil && !hasV2 && registered == "" {
			why := "spec.api is V2"
			if b.Spec.API == nil {
				why = "the spec uses " + strings.Join(b.V2OnlyFields(), ", ") + ", which only V2 has"
			}
			return "", "", managed.Stalled(b24v1.ReasonInvalidSpec,
				"%s but the portal has no imbot.v2 (Chatbots 2.0): update the portal, or use spec.api V1 without the V2-only fields", why)
		}
		if f := b.V1OnlyFields(); len(f) > 0 {
			return "", "", managed.Stalled(b24v1.ReasonInvalidSpec, "the bot uses the V2 API, which has no %s: remove them", strings.Join(f, ", "))
		}
		if b.Spec.Properties.Name == nil {
			return "", "", managed.Stalled(b24v1.ReasonInvalidSpec, "a V2 bot needs properties.name: set it, or set spec.api to V1")
		}
		return api, note, nil
	}
	if f := b.V2OnlyFields(); len(f) > 0 {
		return "", "", managed.Stalled(b24v1.ReasonInvalidSpec, "the bot uses the V1 API, which has no %s: remove them", strings.Join(f, ", "))
	}
	if b.Spec.EventHandler == nil && b.Spec.EventHandlers == nil && !b.ObserveOnly() {
		// An observed bot is never written: imbot.bot.list does not show its handlers, and
		// they are needed only to take it over.
		return "", "", managed.Stalled(b24v1.ReasonInvalidSpec, "a V1 bot needs exactly one of eventHandler or eventHandlers")
	}
	return api, note, nil
}

// eventMode is the V2 bot's event mode: spec.eventMode, else Webhook with an eventHandler and
// Fetch without.
func eventMode(b *b24v1.ChatBot) b24v1.EventMode {
	switch {
	case b.Spec.EventMode != nil:
		return *b.Spec.EventMode
	case b.Spec.EventHandler != nil:
		return b24v1.EventModeWebhook
	}
	return b24v1.EventModeFetch
}

func (e *chatBotExternal) observeV2(ctx context.Context, b *b24v1.ChatBot, force bool) (managed.Observation, error) {
	resync := resyncOf(e.portal)
	adopting := b.Status.BotID == 0 && b.Spec.Adopt != nil
	if adopting {
		// The existing bot named by its id: found below, it is taken over in place.
		b.Status.BotID = b.Spec.Adopt.ID
	}
	obs := managed.Observation{RequeueAfter: resync, Message: e.inSyncMessage(b)}
	if b.Status.BotID == 0 {
		return obs, nil
	}
	// Every page of one imbot.v2.Bot.list per Portal per resync serves every V2 bot of it.
	list, err := e.portals.BotListV2(ctx, client.ObjectKeyFromObject(e.portal), e.bitrix, resync/2, force)
	if err != nil {
		return obs, err
	}
	bot, ok := list[int(b.Status.BotID)]
	if ok && adopting {
		if err := adoptedCode(b, bot.Code); err != nil {
			b.Status.BotID = 0
			return obs, err
		}
		b.Status.API, b.Status.ApplicationKey = b24v1.BotAPIV2, e.id.AppKey
	}
	ok = ok && bot.Code == b.Spec.Code
	switch key := b.Status.ApplicationKey; {
	case adopting || ok || key == "" || e.id.Owns(key):
		if ok && key != e.id.AppKey {
			// Listed by the current identity: ours now (the same identity in another form, or
			// a rotation whose status write was lost).
			b.Status.ApplicationKey = e.id.AppKey
		}
	default:
		// Registered under a previous webhook identity, which the current one's list does not
		// show: Bot.get by id tells a bot still to rotate from one rotated already (the full
		// form is the owner's) and from one that is gone.
		found, err := e.bitrix.GetBotV2(ctx, int(b.Status.BotID))
		switch {
		case errors.Is(err, bitrix.ErrBotNotFoundV2):
		case err != nil:
			return obs, err
		case found.Code != b.Spec.Code:
		case found.Full:
			b.Status.ApplicationKey, ok = e.id.AppKey, true
			e.portals.NoteBotV2(client.ObjectKeyFromObject(e.portal), bitrix.BotV2{ID: found.ID, Code: found.Code})
		default:
			e.rotate, ok = true, true
		}
	}
	if !ok {
		if adopting {
			b.Status.BotID = 0 // not there: registered by code below, as without adopt
		}
		obs.Missing = !adopting
		return obs, nil
	}
	obs.Exists = true
	if e.rotate {
		return obs, nil // Update moves it onto the current identity
	}
	params, err := e.paramsV2(ctx, b)
	if err != nil {
		return obs, err
	}
	obs.UpToDate = b.Status.AppliedHash == hashOf(params) && b.Status.ApplicationKey == e.id.AppKey &&
		b.Status.API == b24v1.BotAPIV2 && b.Status.EventMode == eventMode(b)
	return obs, nil
}

// observeOnlyV2 finds an ObserveOnly V2 bot by its CODE in the Portal's imbot.v2.Bot.list,
// records its id and reports the name the list shows if it differs from the spec.
func (e *chatBotExternal) observeOnlyV2(ctx context.Context, b *b24v1.ChatBot, force bool) (managed.Observation, error) {
	resync := resyncOf(e.portal)
	obs := managed.Observation{RequeueAfter: resync}
	list, err := e.portals.BotListV2(ctx, client.ObjectKeyFromObject(e.portal), e.bitrix, resync/2, force)
	if err != nil {
		return obs, err
	}
	var found *bitrix.BotV2
	if b.Spec.Adopt != nil && b.Status.BotID == 0 {
		if bot, ok := list[int(b.Spec.Adopt.ID)]; ok {
			if err := adoptedCode(b, bot.Code); err != nil {
				return obs, err
			}
			found = &bot
		}
	} else {
		for id := range list {
			if bot := list[id]; bot.Code == b.Spec.Code {
				found = &bot
			}
		}
	}
	if found == nil {
		b.Status.BotID = 0
		return obs, nil
	}
	b.Status.BotID, b.Status.ApplicationKey, b.Status.API = int64(found.ID), e.id.AppKey, b24v1.BotAPIV2
	obs.Exists = true
	obs.Message = fmt.Sprintf("Bot %d is observed through V2", found.ID)
	obs.Drift = driftV2(b.Spec.Properties, found.User)
	obs.UpToDate = len(obs.Drift) == 0
	return obs, nil
}

func (e *chatBotExternal) createV2(ctx context.Context, b *b24v1.ChatBot) error {
	if err := e.checkLimit(ctx, b); err != nil {
		return err
	}
	params, err := e.paramsV2(ctx, b)
	if err != nil {
		return err
	}
	// Bot.get by code is portal-wide: it tells a free code from ours (a bot registered before
	// a crash that lost its status write) and from another application's.
	found, err := e.bitrix.GetBotByCodeV2(ctx, b.Spec.Code)
	var bot bitrix.BotV2
	switch {
	case errors.Is(err, bitrix.ErrBotNotFoundV2):
		// Bot.register is idempotent by code, so a retry after a lost answer makes no
		// duplicate.
		if bot, err = e.bitrix.RegisterV2(ctx, params); err != nil {
			return e.v2Error(b, err)
		}
	case err != nil:
		return err
	default:
		ours, err := e.oursV2(ctx, found)
		if err != nil {
			return err
		}
		if !ours {
			return codeTakenV2(b)
		}
		// Our bot from before a crash: register would return it without applying the spec,
		// so adopt it with an update.
		if bot, err = e.bitrix.UpdateV2(ctx, found.ID, params); err != nil {
			return e.v2Error(b, err)
		}
		if bot.ID == 0 {
			bot.ID = found.ID
		}
	}
	e.applied(b, bot.ID, params)
	e.portals.NoteBotV2(client.ObjectKeyFromObject(e.portal), bitrix.BotV2{ID: bot.ID, Code: b.Spec.Code})
	return nil
}

// oursV2 tells whether a bot found by code belongs to this application: the owner gets the
// full form of Bot.get, and Bot.list (only the caller's bots) settles a brief answer.
func (e *chatBotExternal) oursV2(ctx context.Context, found bitrix.BotV2) (bool, error) {
	if found.Full {
		return true, nil
	}
	list, err := e.portals.BotListV2(ctx, client.ObjectKeyFromObject(e.portal), e.bitrix, 0, true)
	if err != nil {
		return false, err
	}
	_, ok := list[found.ID]
	return ok, nil
}

func (e *chatBotExternal) applied(b *b24v1.ChatBot, id int, params bitrix.BotV2Params) {
	b.Status.BotID = int64(id)
	b.Status.API, b.Status.EventMode = b24v1.BotAPIV2, eventMode(b)
	b.Status.AppliedHash = hashOf(params)
	b.Status.ApplicationKey = e.id.AppKey
}

func (e *chatBotExternal) updateV2(ctx context.Context, b *b24v1.ChatBot) error {
	params, err := e.paramsV2(ctx, b)
	if err != nil {
		return err
	}
	if e.rotate {
		if err := e.rotateV2(ctx, b); err != nil {
			return err
		}
		if b.Status.AppliedHash == hashOf(params) && b.Status.API == b24v1.BotAPIV2 && b.Status.EventMode == eventMode(b) {
			return nil
		}
	}
	if _, err := e.bitrix.UpdateV2(ctx, int(b.Status.BotID), params); err != nil {
		if errors.Is(err, bitrix.ErrBotNotFoundV2) {
			// Gone between the list and the update: register it again on the next pass.
			id := b.Status.BotID
			b.Status.BotID = 0
			return managed.Retryable(b24v1.ReasonProgressing, "bot %d disappeared remotely; registering it again", id)
		}
		return e.v2Error(b, err)
	}
	e.applied(b, int(b.Status.BotID), params)
	return nil
}

// rotateV2 moves a bot registered under a previous webhook identity onto the Portal's current
// one: imbot.v2.Bot.update authenticated with the previous token, the current one in
// fields.botToken. The previous token is the Secret's previousClientId, or the clientId the
// bot's own status.applicationKey names when it came from spec; each bot records its key, so
// a rotation interrupted halfway resumes with the bots still left. The old token stops
// working at once: a rotation whose answer was lost is recognised by Bot.get with the new
// token (the owner's full form), never by rotating again.
func (e *chatBotExternal) rotateV2(ctx context.Context, b *b24v1.ChatBot) error {
	id := int(b.Status.BotID)
	prev, ok := e.id.previousFor(b.Status.ApplicationKey)
	if !ok {
		return managed.Stalled(b24v1.ReasonInvalidSpec, "bot %d (code %q) is registered under a previous webhook identity (application %s) and the Portal now acts as %s: "+
			"put that identity into key %s of the Portal's webhook Secret so the bot can be moved onto the new one",
			id, b.Spec.Code, b.Status.ApplicationKey, e.id.AppKey, refs.WebhookPreviousClientIDSecretKey)
	}
	if err := e.bitrix.RotateBotTokenV2(ctx, id, prev, e.id.current); err != nil {
		switch {
		case errors.Is(err, bitrix.ErrBotTokenRotationFailed):
			return managed.Stalled(b24v1.ReasonRemoteError, "Bitrix24 refused to move bot %d (code %q) onto the Portal's new webhook identity %s (BOT_TOKEN_ROTATION_FAILED: "+
				"the new token is already used by another bot, and this portal allows one bot per token): the bot stays registered under %s; "+
				"give this bot's Portal an identity of its own, or set the previous identity back", id, b.Spec.Code, e.id.AppKey, b.Status.ApplicationKey)
		case errors.Is(err, bitrix.ErrBotTokenInvalidLength):
			return e.v2Error(b, err)
		}
		// A lost answer, or a rotation someone else finished: the new token owns the bot if
		// it happened.
		if found, gerr := e.bitrix.GetBotV2(ctx, id); gerr != nil || !found.Full || found.Code != b.Spec.Code {
			return err
		}
	}
	b.Status.ApplicationKey = e.id.AppKey
	e.rotate = false
	e.portals.NoteBotV2(client.ObjectKeyFromObject(e.portal), bitrix.BotV2{ID: id, Code: b.Spec.Code})
	return nil
}

// unregisterV2 unregisters a V2 bot with the identity that owns it: a bot still registered
// under a previous webhook identity is removed with that token, so a deletion during a
// rotation leaves nothing behind.
func (e *chatBotExternal) unregisterV2(ctx context.Context, b *b24v1.ChatBot) error {
	id := int(b.Status.BotID)
	key := b.Status.ApplicationKey
	if key == "" || e.id.Owns(key) {
		return e.bitrix.UnregisterV2(ctx, id)
	}
	prev, ok := e.id.previousFor(key)
	if !ok {
		return managed.Stalled(b24v1.ReasonInvalidSpec, "bot %d is registered under a previous webhook identity (application %s): put that identity into key %s of the Portal's webhook Secret "+
			"so the bot can be unregistered, or set deletionPolicy Orphan to leave it", id, key, refs.WebhookPreviousClientIDSecretKey)
	}
	err := e.bitrix.UnregisterV2As(ctx, id, prev)
	if errors.Is(err, bitrix.ErrBotOwnership) {
		return e.bitrix.UnregisterV2(ctx, id) // rotated already
	}
	return err
}

// v2Error turns the answers that need the user's attention into their conditions; the rest
// the client has classified.
func (e *chatBotExternal) v2Error(b *b24v1.ChatBot, err error) error {
	switch {
	case errors.Is(err, bitrix.ErrBotCodeTaken):
		return codeTakenV2(b)
	case errors.Is(err, bitrix.ErrBotOwnership):
		return managed.Stalled(b24v1.ReasonCodeTaken,
			"bot %d (code %q) does not belong to application %s: it was registered with another bot token", b.Status.BotID, b.Spec.Code, e.id.AppKey)
	case errors.Is(err, bitrix.ErrBotTokenInvalidLength):
		return managed.Stalled(b24v1.ReasonInvalidSpec, "the Portal's webhook clientId (spec.auth.webhook.clientId, or key clientId of its Secret) is the V2 botToken, "+
			"and imbot.v2 accepts at most %d characters: use a shorter clientId, or set spec.api to V1", bitrix.MaxBotTokenLength)
	case errors.Is(err, bitrix.ErrBotLimitExceeded):
		return managed.Stalled(b24v1.ReasonBotLimitExceeded, "Bitrix24 refused the bot: application %s has reached its bot limit (BOT_LIMIT_EXCEEDED)", e.id.AppKey)
	}
	return err
}

func codeTakenV2(b *b24v1.ChatBot) error {
	return managed.Stalled(b24v1.ReasonCodeTaken, "code %q is already registered on this portal by another application, "+
		"or by a previous installation of this one (a reinstalled application, or a changed webhook client id, is a new application to Bitrix24): "+
		"choose another code, or delete the old bot in the portal and reconcile this ChatBot", b.Spec.Code)
}

// notOursV2 reads the answer of a V2 unregister: a bot of another application is not ours to
// remove, so the deletion is done.
func notOursV2(err error) error {
	if errors.Is(err, bitrix.ErrBotOwnership) {
		return nil
	}
	return err
}

var botTypesV2 = map[b24v1.BotType]string{
	b24v1.BotTypeBot: bitrix.BotV2TypeBot, b24v1.BotTypeOpenLine: bitrix.BotV2TypeOpenline,
	b24v1.BotTypeSupervisor: bitrix.BotV2TypeSupervisor, b24v1.BotTypeNetwork: bitrix.BotV2TypeNetwork,
}

// paramsV2 translates the spec into what imbot.v2.Bot.register / Bot.update send.
func (e *chatBotExternal) paramsV2(ctx context.Context, b *b24v1.ChatBot) (bitrix.BotV2Params, error) {
	s := b.Spec
	typ := b24v1.BotTypeBot
	if s.Type != nil {
		typ = *s.Type
	}
	p := bitrix.BotV2Params{Code: s.Code, Type: botTypesV2[typ], EventMode: bitrix.EventModeFetch}
	if eventMode(b) == b24v1.EventModeWebhook {
		p.EventMode, p.WebhookURL = bitrix.EventModeWebhook, string(deref(s.EventHandler))
	}
	pr := s.Properties
	p.Properties = bitrix.BotV2Properties{
		Name: deref(pr.Name), LastName: deref(pr.LastName), WorkPosition: deref(pr.WorkPosition), Gender: deref(pr.Gender),
	}
	if pr.Color != nil {
		p.Properties.Color = string(*pr.Color)
	}
	p.Hidden, p.ReactionsEnabled, p.SupportOpenline = pr.Hidden, pr.Reactions, pr.SupportOpenline
	if pr.Background != nil {
		bg := string(*pr.Background)
		p.BackgroundID = &bg
	}
	if pr.Avatar != nil {
		photo, err := readConfigMapKey(ctx, e.reader, b.Namespace, pr.Avatar.ConfigMapKeyRef)
		if err != nil {
			return p, err
		}
		p.Properties.Avatar = photo
	}
	return p, nil
}

// driftV2 names the properties the spec sets that the bot's user record (Bot.list) shows
// otherwise. The record splits the name into first and last; an answer with only the full
// name is compared with name and lastName joined.
func driftV2(p b24v1.BotProperties, u bitrix.BotV2User) []string {
	var drift []string
	differs := func(field string, want *string, remote string) {
		if w := deref(want); w != "" && w != remote {
			drift = append(drift, fmt.Sprintf("%s (remote %q)", field, remote))
		}
	}
	if u.FirstName == "" && u.LastName == "" {
		full := strings.TrimSpace(deref(p.Name) + " " + deref(p.LastName))
		differs("properties.name", &full, u.Name)
	} else {
		differs("properties.name", p.Name, u.FirstName)
		differs("properties.lastName", p.LastName, u.LastName)
	}
	differs("properties.workPosition", p.WorkPosition, u.WorkPosition)
	if p.Color != nil {
		switch remote, ok := bitrix.ColorName(u.Color); {
		case ok && remote != string(*p.Color):
			drift = append(drift, fmt.Sprintf("properties.color (remote %q)", remote))
		case !ok && u.Color != "":
			drift = append(drift, fmt.Sprintf("properties.color (remote %q, not a named color)", u.Color))
		}
	}
	return drift
}
