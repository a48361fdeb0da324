package bitrix_test

import (
	"errors"
	"testing"
	"time"

	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/bitrix/bitrixtest"
	"github.com/b24ops/b24-operator/internal/errclass"
)

// blackholeClient is a webhook client of a portal that never answers.
func blackholeClient(t *testing.T, opts ...bitrix.Option) (*bitrix.Client, *bitrixtest.Blackhole) {
	t.Helper()
	bh := bitrixtest.NewBlackhole()
	t.Cleanup(bh.Close)
	c, err := bitrix.New(append([]bitrix.Option{bitrix.WithWebhook(bh.WebhookURL(webhookCode), clientID), bitrix.WithCABundle(bh.CAPEM()),
		bitrix.WithRateLimit(10000, 10000)}, opts...)...)
	mustNoErr(t, err)
	return c, bh
}

// One call to a portal that never answers ends within the call timeout, whatever the
// retries: it cannot hold its caller for a request timeout per attempt.
func TestCallTimeoutBoundsRetries(t *testing.T) {
	c, bh := blackholeClient(t, bitrix.WithRequestTimeout(500*time.Millisecond), bitrix.WithCallTimeout(time.Second),
		bitrix.WithRetries(10, time.Millisecond, time.Millisecond))
	ctx := testContext(t)
	start := time.Now()
	_, err := c.Scope(ctx)
	if err == nil {
		t.Fatal("a call to a blackhole succeeded")
	}
	// Eleven attempts of 500 ms would take 5.5 s; the call timeout ends it after 1 s.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the call took %s, want it ended by the 1s call timeout", d)
	}
	if n := bh.Requests(); n < 2 || n > 3 {
		t.Errorf("%d requests reached the portal, want the 2 or 3 that fit in the call timeout", n)
	}
}

// After the threshold of unanswered requests the circuit is open: the next calls fail at
// once with PortalUnreachable, send nothing, and say when to try again.
func TestCircuitOpensOnAPortalThatNeverAnswers(t *testing.T) {
	circuit := bitrix.NewCircuit(bitrix.CircuitConfig{Threshold: 2, Cooldown: time.Minute})
	c, bh := blackholeClient(t, bitrix.WithRequestTimeout(100*time.Millisecond), bitrix.WithRetries(0, time.Millisecond, time.Millisecond),
		bitrix.WithCircuit(circuit))
	ctx := testContext(t)
	for range 2 {
		if _, err := c.Scope(ctx); !errors.Is(err, bitrix.ErrNetwork) {
			t.Fatalf("want a network error from the blackhole, got %v", err)
		}
	}
	if !circuit.Open() {
		t.Fatal("two unanswered requests did not open the circuit")
	}
	sent := bh.Requests()
	start := time.Now()
	_, err := c.Scope(ctx)
	if !errors.Is(err, bitrix.ErrPortalUnreachable) {
		t.Fatalf("want PortalUnreachable, got %v", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("a call with the circuit open took %s", d)
	}
	if n := bh.Requests(); n != sent {
		t.Errorf("a call with the circuit open sent %d requests", n-sent)
	}
	cl, ok := errclass.Of(err)
	if !ok || cl.Disposition != errclass.Retryable || cl.Reason != errclass.PortalUnreachable || cl.RetryAfter <= 0 || cl.RetryAfter > time.Minute {
		t.Errorf("class of an open circuit: %+v", cl)
	}
}

// A portal that answers, even with an error, keeps the circuit closed.
func TestCircuitStaysClosedOnAnswers(t *testing.T) {
	srv := newServer(t)
	circuit := bitrix.NewCircuit(bitrix.CircuitConfig{Threshold: 1})
	c := webhookClient(t, srv, clientID, bitrix.WithCircuit(circuit))
	ctx := testContext(t)
	for range 3 {
		if _, err := c.Scope(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Unregister(ctx, 987654); err == nil {
		t.Fatal("unregistering an unknown bot succeeded")
	}
	if circuit.Open() {
		t.Fatal("answers opened the circuit")
	}
}
