package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// createConcurrently creates n ChatBots at once, alternating between the two namespaces, and
// returns each create's error.
func createConcurrently(a *app, n int, portalName string) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns := a.ns1
			if i%2 == 1 {
				ns = a.ns2
			}
			name := fmt.Sprintf("bot-%d", i)
			code := fmt.Sprintf("%s-%d", a.ns1, i) // codes are unique on a portal, across tests
			<-start
			errs[i] = env.Client.Create(context.Background(), bot(ns, name, portalName, code, hookA))
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// admitted counts the creates that passed and checks that every refusal is the bot limit's.
func admitted(t *testing.T, errs []error, limit int) int {
	t.Helper()
	n := 0
	for _, err := range errs {
		switch {
		case err == nil:
			n++
		case apierrors.IsInvalid(err) && strings.Contains(err.Error(), fmt.Sprintf("limit of %d ChatBots", limit)):
		default:
			t.Errorf("want admitted or refused by the bot limit, got %v", err)
		}
	}
	return n
}

// storedBots lists the ChatBots of the two namespaces.
func storedBots(t *testing.T, a *app) []b24v1.ChatBot {
	t.Helper()
	var out []b24v1.ChatBot
	for _, ns := range []string{a.ns1, a.ns2} {
		var l b24v1.ChatBotList
		if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Items...)
	}
	return out
}

// With the webhook alone, one replica serializes ChatBot admissions and remembers what it
// admitted until the API server lists it, so concurrent creates never pass the limit. (Several
// replicas can still race; the controller settles that, see below.)
func TestChatBotLimitUnderConcurrentCreates(t *testing.T) {
	a := newApp(t)
	const limit = 3
	mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", limit), portal(a.ns2, "acme", a.url(), "bots", limit))
	errs := createConcurrently(a, 10, "acme")
	n := admitted(t, errs, limit)
	if n != limit {
		t.Errorf("admitted %d of 10 concurrent creates, want exactly the limit %d", n, limit)
	}
	if stored := storedBots(t, a); len(stored) != n {
		t.Errorf("%d ChatBots stored, %d admitted", len(stored), n)
	}
}

// A server-side dry run (kubectl diff, Argo CD) takes no place.
func TestChatBotDryRunTakesNoPlace(t *testing.T) {
	a := newApp(t)
	mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1))
	ctx := context.Background()
	expect(t, env.Client.Create(ctx, bot(a.ns1, "preview", "acme", "preview", hookA), client.DryRunAll), nil)
	expect(t, env.Client.Create(ctx, bot(a.ns1, "real", "acme", "real", hookA)), nil)
}

// A server-side dry run is a free probe: its refusals tell no more of other namespaces than a
// real create's (no name, code or handler URL).
func TestDryRunTellsNothingOfOtherNamespaces(t *testing.T) {
	a := newApp(t)
	mustCreate(t, portal(a.ns1, "acme", a.url(), "bots", 1), portal(a.ns2, "probe", a.url(), "bots", 1),
		bot(a.ns1, "secret-project", "acme", "secret-code", hookA))
	ctx := context.Background()
	hidden := []string{"!" + a.ns1, "!secret-project", "!" + hookA}
	for _, tc := range []struct {
		name string
		bot  *b24v1.ChatBot
		want []string
	}{
		{"the limit", bot(a.ns2, "probe", "probe", "probe", hookA), []string{"held by an object in another namespace"}},
		{"a code", bot(a.ns2, "probe", "probe", "secret-code", hookA), []string{`code "secret-code" is already used by an object in another namespace`}},
		{"a handler", bot(a.ns2, "probe", "probe", "probe", hookB), []string{"differs from the event handlers of an object in another namespace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, env.Client.Create(ctx, tc.bot, client.DryRunAll), append(tc.want, hidden...))
		})
	}
}
