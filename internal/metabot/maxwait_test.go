package metabot_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/b24ops/b24-operator/internal/metabot"
)

// A call that would wait for the rate limiter longer than WithMaxWait is not sent: it fails at
// once, Definite (safe to repeat), instead of holding its caller until the token comes.
func TestMaxWaitBoundsTheLimiterWait(t *testing.T) {
	s := newSim(t)
	// One token now, the next in an hour.
	c := newClient(t, s, metabot.WithRateLimit(1.0/3600, 1), metabot.WithMaxWait(50*time.Millisecond))
	// No deadline of the caller's: only WithMaxWait can end the wait.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job := metabot.Job{Target: metabot.ScriptCode("weekly_digest")}
	if _, err := c.Schedule(ctx, job); err != nil {
		t.Fatalf("first call: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Schedule(ctx, job); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the call is still waiting for the limiter")
	}
	var e *metabot.Error
	if !errors.As(err, &e) || e.Kind != metabot.Definite {
		t.Fatalf("want a Definite error, got %v", err)
	}
	if n := s.Requests(); n != 1 {
		t.Errorf("%d requests reached Metabot, want the first only", n)
	}
}
