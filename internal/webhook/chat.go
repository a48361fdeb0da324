package webhook

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/refs"
	"github.com/b24ops/b24-operator/internal/rules"
)

// +kubebuilder:webhook:path=/validate-b24ops-io-v1alpha1-chat,mutating=false,failurePolicy=fail,sideEffects=None,groups=b24ops.io,resources=chats,verbs=create;update,versions=v1alpha1,name=vchat.b24ops.io,admissionReviewVersions=v1,timeoutSeconds=10,serviceName=b24-operator-webhook,serviceNamespace=b24-operator-system

// ChatValidator refuses two Chats with the same entity on one portal: the controller finds its
// chat again by entity (imbot.chat.get), so both objects would manage the same remote chat.
type ChatValidator struct {
	reader client.Reader
}

// NewChatValidator reads ChatBots, Portals and Chats through r, the manager's cache with the
// field indexes of Indexes.
func NewChatValidator(r client.Reader) *ChatValidator { return &ChatValidator{reader: r} }

var _ admission.Validator[*b24v1.Chat] = &ChatValidator{}

// ValidateCreate refuses a Chat whose entity another Chat on the same portal already uses.
func (v *ChatValidator) ValidateCreate(ctx context.Context, chat *b24v1.Chat) (admission.Warnings, error) {
	return v.validate(ctx, chat)
}

// ValidateUpdate checks again only when what locates the chat changes (entity and botRef are
// immutable in the schema), so finalizer and spec edits of an existing Chat always pass.
func (v *ChatValidator) ValidateUpdate(ctx context.Context, old, chat *b24v1.Chat) (admission.Warnings, error) {
	if chat.DeletionTimestamp != nil || (equality.Semantic.DeepEqual(old.Spec.Entity, chat.Spec.Entity) && old.Spec.BotRef == chat.Spec.BotRef &&
		chatAdoptID(old) == chatAdoptID(chat)) {
		return nil, nil
	}
	return v.validate(ctx, chat)
}

// ValidateDelete allows every delete.
func (v *ChatValidator) ValidateDelete(context.Context, *b24v1.Chat) (admission.Warnings, error) {
	return nil, nil
}

func (v *ChatValidator) validate(ctx context.Context, chat *b24v1.Chat) (admission.Warnings, error) {
	r := &hostResolver{reader: v.reader, hosts: map[hostKey]string{}}
	host, err := r.hostOf(ctx, chat.Namespace, chat.Spec.BotRef.Name, false)
	if err != nil {
		return nil, readError(err)
	}
	if host == "" {
		// The ChatBot or its Portal does not exist yet: the controller waits for them.
		return nil, nil
	}
	// Only the Chats with the same entity, from the index; in the order the API server would
	// list them, so that the Chat a refusal names does not depend on the cache.
	var chats b24v1.ChatList
	if err := v.reader.List(ctx, &chats, client.MatchingFields{refs.IndexChatEntity: rules.ChatEntityKey(chat)}); err != nil {
		return nil, readError(fmt.Errorf("list Chats: %w", err))
	}
	if id := chatAdoptID(chat); id != 0 {
		// And the Chats that adopt or manage the remote chat spec.adopt.id names.
		var same b24v1.ChatList
		if err := v.reader.List(ctx, &same, client.MatchingFields{refs.IndexChatID: strconv.FormatInt(id, 10)}); err != nil {
			return nil, readError(fmt.Errorf("list Chats: %w", err))
		}
		seen := map[types.NamespacedName]bool{}
		for i := range chats.Items {
			seen[client.ObjectKeyFromObject(&chats.Items[i])] = true
		}
		for _, o := range same.Items {
			if !seen[client.ObjectKeyFromObject(&o)] {
				chats.Items = append(chats.Items, o)
			}
		}
	}
	sort.Slice(chats.Items, func(i, j int) bool {
		a, b := &chats.Items[i], &chats.Items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	entityType, entityID := rules.ChatEntity(chat)
	for i := range chats.Items {
		o := &chats.Items[i]
		if client.ObjectKeyFromObject(o) == client.ObjectKeyFromObject(chat) || (o.DeletionTimestamp != nil && o.Status.ChatID == 0) {
			continue
		}
		t, id := rules.ChatEntity(o)
		sameEntity := t == entityType && id == entityID
		adopt := chatAdoptID(chat)
		sameChat := adopt != 0 && (chatAdoptID(o) == adopt || o.Status.ChatID == adopt)
		if !sameEntity && !sameChat {
			continue
		}
		// Another Chat counts only through a ChatBot holding a place on the host (its Portal
		// verified, or the bot registered): made-up credentials squat no entity.
		otherHost, err := r.hostOf(ctx, o.Namespace, o.Spec.BotRef.Name, true)
		if err != nil {
			return nil, readError(err)
		}
		if otherHost != host {
			continue
		}
		name := "Chat " + o.Namespace + "/" + o.Name
		switch {
		case o.Namespace != chat.Namespace:
			name = otherNamespace
		case o.DeletionTimestamp != nil:
			name += " (being deleted)"
		}
		if !sameEntity {
			return nil, invalid(chat, field.ErrorList{field.Invalid(field.NewPath("spec", "adopt", "id"), adopt, fmt.Sprintf(
				"chat %d is already adopted or managed by Chat %s on portal %s; one remote chat is managed by one Chat", adopt, name, host))})
		}
		return nil, invalid(chat, field.ErrorList{field.Invalid(field.NewPath("spec", "entity"), entityType+"/"+entityID, fmt.Sprintf(
			"%s already uses entity type %q id %q on portal %s; the entity identifies a chat on a portal, so set a different spec.entity",
			name, entityType, entityID, host))})
	}
	return nil, nil
}

// hostResolver follows Chat → ChatBot (botRef) → Portal (portalRef) to the portal host,
// remembering each answer for one admission.
type hostResolver struct {
	reader client.Reader
	hosts  map[hostKey]string
}

type hostKey struct {
	bot  types.NamespacedName
	held bool
}

// hostOf is the portal host of a ChatBot, or "" while the ChatBot or its Portal is missing.
// With held, only the host the bot holds a place on counts (rules.HeldHost); without it, the
// host its Portal declares.
func (r *hostResolver) hostOf(ctx context.Context, namespace, bot string, held bool) (string, error) {
	key := hostKey{types.NamespacedName{Namespace: namespace, Name: bot}, held}
	if h, ok := r.hosts[key]; ok {
		return h, nil
	}
	host, err := r.lookup(ctx, key.bot, held)
	if err != nil {
		return "", err
	}
	r.hosts[key] = host
	return host, nil
}

func (r *hostResolver) lookup(ctx context.Context, key types.NamespacedName, held bool) (string, error) {
	var b b24v1.ChatBot
	if err := r.reader.Get(ctx, key, &b); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("get ChatBot %s: %w", key, err)
	}
	var p b24v1.Portal
	err := r.reader.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: b.Spec.PortalRef.Name}, &p)
	var portal *b24v1.Portal
	switch {
	case err == nil:
		portal = &p
	case !apierrors.IsNotFound(err):
		return "", fmt.Errorf("get Portal %s/%s: %w", key.Namespace, b.Spec.PortalRef.Name, err)
	}
	// A Portal that is gone leaves a registered bot's host in its status.
	if held {
		return rules.HeldHost(&b, portal), nil
	}
	return rules.HostOfApplication(rules.DeclaredApplicationOf(&b, portal)), nil
}

func chatAdoptID(c *b24v1.Chat) int64 {
	if c.Spec.Adopt == nil {
		return 0
	}
	return c.Spec.Adopt.ID
}
