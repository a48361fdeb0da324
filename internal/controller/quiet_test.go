package controller_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

// apiWrites records every write the manager's client sends to the API server for objects of
// the namespaces it watches: the real manager against the real API server, only counted.
type apiWrites struct {
	mu         sync.Mutex
	namespaces map[string]bool
	writes     []string
}

func (w *apiWrites) watch(ns string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.namespaces == nil {
		w.namespaces = map[string]bool{}
	}
	w.namespaces[ns] = true
}

func (w *apiWrites) note(verb, sub string, obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.namespaces[obj.GetNamespace()] {
		return
	}
	s := fmt.Sprintf("%s %T %s", verb, obj, obj.GetName())
	if sub != "" {
		s += " " + sub
	}
	w.writes = append(w.writes, s)
}

// since returns the writes recorded after the first n.
func (w *apiWrites) since(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes[n:])
}

func (w *apiWrites) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

func (w *apiWrites) client(c client.Client) client.Client {
	return interceptor.NewClient(watchless{c}, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.note("create", "", obj)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.note("update", "", obj)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.note("patch", "", obj)
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.note("delete", "", obj)
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			w.note("update", sub, obj)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			w.note("patch", sub, obj)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
}

// drift reads the simulator answered for each chat id (imbot.dialog.get inside a batch).
func dialogReads(sim *bitrixtest.Server) map[int]int {
	out := map[int]int{}
	for _, c := range sim.Calls() {
		if c.Method == "imbot.dialog.get" && c.ErrorCode == "" {
			id := 0
			_, _ = fmt.Sscan(strings.TrimPrefix(fmt.Sprint(c.Params["DIALOG_ID"]), "chat"), &id)
			out[id]++
		}
	}
	return out
}

// TestQuietAtRest pins the zero-write resync: once objects of every kind are Ready, a resync
// pass that finds every remote object as specified writes nothing to the API server (no
// timestamp, no condition), and a reconcile a user requests writes only its acknowledgement.
func TestQuietAtRest(t *testing.T) {
	writes := &apiWrites{}
	ns, _, _ := startTest(t, managerOpts{newClient: writes.client})
	writes.watch(ns)
	sim := bitrixtest.NewServer()
	t.Cleanup(sim.Close)
	mbSim := metabottest.NewServer()
	t.Cleanup(mbSim.Close)

	portal := webhookPortal(t, ns, "acme", "acme-bots", sim, func(p *b24v1.Portal) {
		p.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	})
	bot := chatBot(ns, "support", "acme", "support")
	app := jsApp(ns, "help", "support", "help")
	chats := []*b24v1.Chat{groupChat(ns, "incidents", "support", 1, 2), groupChat(ns, "releases", "support", 1)}
	create(t, bot, app, chats[0], chats[1])
	mb, _ := mbBot(t, ns, "sales", mbSim, 31, false)
	job := mbOneShot(ns, "welcome", "sales", 310)
	job.Spec.RunAt = &metav1.Time{Time: time.Now().Add(24 * time.Hour)}
	create(t, job)
	all := []controllerObject{portal, bot, app, chats[0], chats[1], mb, job}
	for _, o := range all {
		waitReady(t, o)
	}
	for _, ch := range chats {
		if ch.Status.LastVerified != nil {
			t.Fatalf("chat %s has status.lastVerified %v: it is no longer written", ch.Name, ch.Status.LastVerified)
		}
	}

	t.Run("a resync pass that finds everything in sync writes nothing", func(t *testing.T) {
		// Counted from Ready on: the first drift check after a creation must find the status
		// it would write already there (the Ready message names the remote id).
		before := writes.count()
		sim.ResetCalls()
		// The next drift check of every chat (and of the bot and app with them) comes within a
		// resync interval (30s, +10%) of the last one.
		eventually(t, 2*time.Minute, "a drift check of every chat, the bot and the app", func() (bool, string) {
			reads := dialogReads(sim)
			n := 0
			for _, ch := range chats {
				if reads[int(ch.Status.ChatID)] > 0 {
					n++
				}
			}
			m := methodsCalled(sim)
			return n == len(chats) && slices.Contains(m, "imbot.app.register") && slices.Contains(m, "imbot.bot.list"),
				fmt.Sprintf("%d of %d chats read, calls %v", n, len(chats), m)
		})
		// The chat reconciles end with their status patch, if any, right after the reads: a
		// request acknowledged on one chat proves the loop has moved past them.
		poke(t, chats[1])
		got := writes.since(before)
		want := []string{fmt.Sprintf("patch *v1alpha1.Chat %s status", chats[1].Name)}
		if !slices.Equal(got, want) {
			t.Fatalf("the resync pass wrote %v, want only the acknowledgement %v", got, want)
		}
		for _, m := range methodsCalled(sim) {
			if strings.HasPrefix(m, "imbot.chat.") && !chatReads[m] {
				t.Fatalf("the resync pass changed a chat on the portal: %v", methodsCalled(sim))
			}
		}
	})

	t.Run("a forced reconcile of each kind writes only the acknowledgement", func(t *testing.T) {
		for _, o := range all {
			before := writes.count()
			conds := slices.Clone(reload(t, o).CommonStatus().Conditions)
			forceReconcile(t, o)
			if got := o.CommonStatus().Conditions; !reflect.DeepEqual(got, conds) {
				t.Errorf("forced reconcile of %T %s changed the conditions\n from %+v\n   to %+v", o, o.GetName(), conds, got)
			}
			got := writes.since(before)
			want := []string{fmt.Sprintf("patch %T %s status", o, o.GetName())}
			if !slices.Equal(got, want) {
				t.Errorf("forced reconcile of %T %s wrote %v, want %v", o, o.GetName(), got, want)
			}
			if o.CommonStatus().LastHandledReconcileAt == "" {
				t.Errorf("%T %s: lastHandledReconcileAt not written", o, o.GetName())
			}
		}
	})
}
