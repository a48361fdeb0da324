package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/managed"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

func (s *setup) chatApp() error {
	c := s.mgr.GetClient()
	r := newReconciler(s, "ChatApp", func() *b24v1.ChatApp { return &b24v1.ChatApp{} },
		&chatAppAdapter{client: c, reader: s.content, portals: s.shared.Portals})
	b := ctrl.NewControllerManagedBy(s.mgr).Named("chatapp").
		For(&b24v1.ChatApp{}, forPredicates()).
		WithOptions(s.controllerOptions()).
		// An app waits for its bot's id and follows it when the bot is registered again.
		Watches(&b24v1.ChatBot{}, byIndex(c, &b24v1.ChatAppList{}, refs.IndexBotRef), builder.WithPredicates(botIDOrLifecycleChanged()))
	return watchNamespacePolicy(watchRefs(b, c, &b24v1.ChatAppList{}), c, &b24v1.ChatAppList{}).Complete(r)
}

// boundBot is the ChatBot an app or chat acts through: its remote id, Portal and client.
type boundBot struct {
	name   string
	id     int
	portal *b24v1.Portal
	bitrix *bitrix.Client
	// api is the bot API the bot is registered with.
	api b24v1.BotAPI
}

// botDependency is the ChatBot a ChatApp or Chat acts through: usable once it has a bot id
// (it need not be Ready: a bot failing an update still has its chats), through a Ready Portal.
func botDependency(name string) managed.Dependency {
	return managed.Dependency{Kind: "ChatBot", Name: name, Object: &b24v1.ChatBot{},
		Ready: func(o managed.Object) string {
			if o.(*b24v1.ChatBot).Status.BotID == 0 {
				return "has no bot id yet"
			}
			return ""
		},
		Then: func(o managed.Object) []managed.Dependency {
			return []managed.Dependency{portalDependency(o.(*b24v1.ChatBot).Spec.PortalRef.Name)}
		},
	}
}

// connectBot resolves the ChatBot named by a ChatApp's or Chat's botRef (the loop has waited
// for it, see botDependency). While the object is being deleted it returns nil when there is
// no bot left to act through (ChatBot gone or never registered): unregistering a bot takes
// its chat apps along and removes it from its chats, so there is nothing left to undo.
func connectBot(ctx context.Context, c client.Client, portals *Portals, ns, name string, deleting bool) (*boundBot, error) {
	var b b24v1.ChatBot
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &b); err != nil {
		switch {
		case client.IgnoreNotFound(err) != nil:
			return nil, managed.Retryable(b24v1.ReasonRemoteError, "read ChatBot %s: %v", name, err)
		case deleting:
			return nil, nil
		}
		return nil, managed.Waiting(b24v1.ReasonDependencyNotReady, "ChatBot %s not found", name)
	}
	switch {
	case deleting && b.Status.BotID == 0:
		return nil, nil
	case b.Status.BotID == 0:
		return nil, managed.Waiting(b24v1.ReasonDependencyNotReady, "ChatBot %s has no bot id yet", name)
	}
	p, err := getPortal(ctx, c, ns, b.Spec.PortalRef.Name)
	if err != nil {
		return nil, err
	}
	bc, err := portals.Cached(ctx, p)
	if err != nil {
		return nil, err
	}
	return &boundBot{name: name, id: int(b.Status.BotID), portal: p, bitrix: bc, api: b.KnownAPI()}, nil
}

// botGone turns BOT_ID_ERROR into a wait: the bot was deleted on the portal, and its ChatBot
// registers it again (under a new id) at its next drift check.
func (b *boundBot) botGone(err error) error {
	if errors.Is(err, bitrix.ErrBotNotFound) {
		return managed.Waiting(b24v1.ReasonDependencyNotReady, "bot %d of ChatBot %s is gone from the portal; waiting for the ChatBot to register it again", b.id, b.name)
	}
	return err
}

// untilDue is how long until the next remote check after one made at last (zero: none yet).
func untilDue(last time.Time, every time.Duration) time.Duration {
	if last.IsZero() {
		return every
	}
	return max(every-time.Since(last), time.Second)
}

// chatAppAdapter registers, updates and unregisters chat apps.
type chatAppAdapter struct {
	client  client.Client
	reader  client.Reader
	portals *Portals
}

// Orphan is false: the loop applies spec.deletionPolicy and its defaults.
func (a *chatAppAdapter) Orphan(*b24v1.ChatApp) bool { return false }

// DependsOn: an app is registered for a bot that has an id.
func (a *chatAppAdapter) DependsOn(app *b24v1.ChatApp) []managed.Dependency {
	return []managed.Dependency{botDependency(app.Spec.BotRef.Name)}
}

type chatAppExternal struct {
	*chatAppAdapter
	// bot is nil while deleting when no bot is left.
	bot *boundBot
	// verify says Observe found the app due for its existence check, which Update makes.
	verify bool
}

func (a *chatAppAdapter) Connect(ctx context.Context, app *b24v1.ChatApp) (managed.External[*b24v1.ChatApp], error) {
	deleting := !app.DeletionTimestamp.IsZero()
	if deleting && app.Status.AppID == 0 {
		return &chatAppExternal{chatAppAdapter: a}, nil // nothing remote to remove
	}
	bot, err := connectBot(ctx, a.client, a.portals, app.Namespace, app.Spec.BotRef.Name, deleting)
	if err != nil {
		return nil, err
	}
	return &chatAppExternal{chatAppAdapter: a, bot: bot}, nil
}

func (e *chatAppExternal) Observe(ctx context.Context, app *b24v1.ChatApp, force bool) (managed.Observation, error) {
	st := &app.Status
	// Freshness lives in the loop's memory and in metrics, never in status.
	st.LastVerified = nil
	resync := resyncOf(e.bot.portal)
	obs := managed.Observation{RequeueAfter: resync}
	if st.AppID == 0 && app.Spec.Adopt != nil {
		// An existing app named by its id. Bitrix24 cannot read it back: it is taken on trust,
		// and never having been applied, it is taken over with an update (see Update).
		st.AppID, st.BotID, st.AppliedHash = app.Spec.Adopt.ID, int64(e.bot.id), ""
	}
	switch {
	case st.AppID == 0 && app.ObserveOnly():
		obs.NotFound = "Bitrix24 has no method that lists or reads chat apps: set spec.adopt.id to the app's id to observe it"
		return obs, nil
	case st.AppID == 0:
		// BotID stays set when the app was registered once and found gone since.
		obs.Missing = st.BotID != 0
		return obs, nil
	case st.BotID != int64(e.bot.id):
		// The bot was registered again under a new id. Unregistering the old bot took its
		// apps along: register the app again for the new one.
		obs.Missing = true
		return obs, nil
	}
	params, err := e.params(ctx, app)
	if err != nil {
		return obs, err
	}
	// Bitrix24 has no list or get for chat apps: the existence check is a register (see
	// verify), so it is Update's to make, not Observe's.
	e.verify = force || managed.Due(ctx, resync)
	if st.AppliedHash == "" {
		// Adopted and never applied: the update that takes it over is the existence check
		// (CHAT_APP_ID_ERROR when it is gone); a register by code first could make a second app.
		e.verify = false
	}
	obs.Exists = true
	obs.UpToDate = st.AppliedHash == hashOf(params) && !e.verify
	if app.ObserveOnly() {
		// The existence check is a write: an observed app is compared with what was last
		// applied, the only copy of it that can be read.
		obs.UpToDate = st.AppliedHash == hashOf(params)
		switch {
		case st.AppliedHash == "":
			obs.Drift = []string{fmt.Sprintf("unknown: app %d was never applied by the operator and Bitrix24 cannot read a chat app back; switching to Full applies the spec to it in place", st.AppID)}
		case !obs.UpToDate:
			obs.Drift = []string{"the spec changed since the app was last applied (Bitrix24 cannot read a chat app back)"}
		}
	}
	if !e.verify {
		obs.RequeueAfter = untilDue(managed.LastVerified(ctx), resync)
	}
	obs.Message = appInSyncMessage(app)
	return obs, nil
}

// verify confirms that the app still exists. imbot.app.register answers the existing id for
// the same (BOT_ID, CODE) and changes nothing: the recorded id means the app is there. Another
// id means the app was gone and this call registered it again; register does not update an
// existing app, so the spec is then applied with imbot.app.update.
func (e *chatAppExternal) verifyApp(ctx context.Context, app *b24v1.ChatApp, params bitrix.AppParams) (recreated *managed.Event, err error) {
	st := &app.Status
	id, err := e.bot.bitrix.AppRegister(ctx, params)
	if err != nil {
		return nil, e.bot.botGone(err)
	}
	if id != int(st.AppID) {
		recreated = &managed.Event{Type: corev1.EventTypeNormal, Reason: managed.EventRecreated,
			Message: fmt.Sprintf("ChatApp %d was missing remotely and was registered again as %d", st.AppID, id)}
		st.AppID, st.AppliedHash = int64(id), ""
	}
	return recreated, nil
}

func (e *chatAppExternal) Create(ctx context.Context, app *b24v1.ChatApp) (managed.Applied, error) {
	if err := e.create(ctx, app); err != nil {
		return managed.Applied{}, err
	}
	// The message the next check reports, so that check writes nothing.
	return managed.Applied{Message: appInSyncMessage(app)}, nil
}

func appInSyncMessage(app *b24v1.ChatApp) string {
	return fmt.Sprintf("App %d is registered for bot %d and in sync", app.Status.AppID, app.Status.BotID)
}

func (e *chatAppExternal) create(ctx context.Context, app *b24v1.ChatApp) error {
	params, err := e.params(ctx, app)
	if err != nil {
		return err
	}
	// The same (BOT_ID, CODE) returns the existing app, so a retry after a crash cannot make a
	// duplicate.
	id, err := e.bot.bitrix.AppRegister(ctx, params)
	if err != nil {
		return e.bot.botGone(err)
	}
	// An app that existed already (left by a crash before the status write, or made outside
	// the operator) comes back unchanged: the update makes it match the spec either way.
	if err := e.bot.bitrix.AppUpdate(ctx, id, params); err != nil {
		return err
	}
	st := &app.Status
	st.AppID, st.BotID, st.AppliedHash = int64(id), int64(e.bot.id), hashOf(params)
	return nil
}

// Update makes the existence check when it is due, then applies the spec when it differs.
func (e *chatAppExternal) Update(ctx context.Context, app *b24v1.ChatApp) (managed.Applied, error) {
	params, err := e.params(ctx, app)
	if err != nil {
		return managed.Applied{}, err
	}
	st := &app.Status
	var applied managed.Applied
	if e.verify {
		ev, err := e.verifyApp(ctx, app, params)
		if err != nil {
			return managed.Applied{}, err
		}
		applied.Event = ev
		if ev == nil && st.AppliedHash == hashOf(params) {
			return managed.Applied{Noop: true, Message: appInSyncMessage(app)}, nil // there, and as the spec says
		}
	}
	if err := e.bot.bitrix.AppUpdate(ctx, int(st.AppID), params); err != nil {
		if errors.Is(err, bitrix.ErrChatAppNotFound) {
			// Gone since it was verified: register it again on the next pass.
			id := st.AppID
			st.AppID = 0
			return managed.Applied{}, managed.Retryable(b24v1.ReasonProgressing, "chat app %d disappeared remotely; registering it again", id)
		}
		return managed.Applied{}, err
	}
	st.AppliedHash = hashOf(params)
	// A verification that registered the app again changed its id.
	applied.Message = appInSyncMessage(app)
	return applied, nil
}

func (e *chatAppExternal) Delete(ctx context.Context, app *b24v1.ChatApp) (managed.Applied, error) {
	st := &app.Status
	if st.AppID == 0 || e.bot == nil || int64(e.bot.id) != st.BotID {
		// Never registered, or its bot is gone (or was registered again): unregistering the
		// bot already removed the app.
		return managed.Applied{}, nil
	}
	return done(notOurs(e.bot.bitrix.AppUnregister(ctx, int(st.AppID))))
}

var jsMethods = map[string]string{
	"Put": bitrix.JSMethodPut, "Send": bitrix.JSMethodSend, "Call": bitrix.JSMethodCall, "Support": bitrix.JSMethodSupport,
}

// hashLength is the length Bitrix24 demands of an IFRAME app's HASH (HASH_ERROR otherwise).
const hashLength = 32

// params translates the spec into what imbot.app.register / imbot.app.update send.
func (e *chatAppExternal) params(ctx context.Context, app *b24v1.ChatApp) (bitrix.AppParams, error) {
	s := app.Spec
	appCtx := "All"
	if s.Context != nil {
		appCtx = *s.Context
	}
	p := bitrix.AppParams{
		BotID: e.bot.id, Code: s.Code,
		// Always sent, so removing the field from the spec resets the app to ALL.
		Context:   strings.ToUpper(appCtx),
		AdminOnly: deref(s.AdminOnly), Hidden: deref(s.Hidden),
		ExtranetSupport: deref(s.ExtranetSupport), LivechatSupport: deref(s.LivechatSupport),
	}
	if js := s.JSCommand; js != nil {
		p.JSMethod, p.JSParam = jsMethods[js.Method], js.Param
	}
	if f := s.Iframe; f != nil {
		p.IframeURL, p.IframePopup = string(f.URL), deref(f.Popup)
		p.IframeWidth, p.IframeHeight = rules.DefaultIframeWidth, rules.DefaultIframeHeight
		if f.Width != nil {
			p.IframeWidth = int(*f.Width)
		}
		if f.Height != nil {
			p.IframeHeight = int(*f.Height)
		}
		raw, err := readSecretKey(ctx, e.reader, app.Namespace, f.HashSecretRef)
		if err != nil {
			return p, err
		}
		// A trailing newline (kubectl create secret --from-file) is not part of the hash.
		hash := strings.TrimSpace(string(raw))
		if len(hash) != hashLength {
			// The value is a secret: say what is wrong with it, never what it is.
			return p, managed.Stalled(b24v1.ReasonInvalidSpec, "iframe.hashSecretRef: Secret %s key %s must hold exactly %d characters (Bitrix24 HASH)",
				f.HashSecretRef.Name, f.HashSecretRef.Key, hashLength)
		}
		p.Hash = hash
	}
	if s.Icon != nil {
		icon, err := readConfigMapKey(ctx, e.reader, app.Namespace, s.Icon.ConfigMapKeyRef)
		if err != nil {
			return p, err
		}
		p.Icon = icon
	}
	for _, t := range s.Translations {
		p.Lang = append(p.Lang, bitrix.AppLang{LanguageID: t.Language, Title: t.Title, Description: t.Description, Copyright: t.Copyright})
	}
	return p, nil
}
