package bitrix

import (
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
)

type routineKey struct{}

// Routine marks the requests made with ctx as routine (drift checks of objects that were
// found as specified): they take a token of the portal's limiter only while it holds more
// than its reserve (RoutineReserve), so new and changed objects, whose requests wait on the
// limiter as usual, always find tokens even while drift checks saturate the bucket. Routine
// and other requests draw from the same limiter: together they never exceed it.
func Routine(ctx context.Context) context.Context {
	return context.WithValue(ctx, routineKey{}, true)
}

// IsRoutine says ctx was marked with Routine.
func IsRoutine(ctx context.Context) bool {
	r, _ := ctx.Value(routineKey{}).(bool)
	return r
}

// RoutineReserve is how many tokens of a limiter of burst b routine requests leave to the
// others: a fifth of the burst, at least one, and none for a burst of one (then routine
// requests wait like the others).
func RoutineReserve(b int) int {
	return min(max(b/5, 1), b-1)
}

// waitRoutine waits until l holds more than its reserve and takes one token.
func waitRoutine(ctx context.Context, l *rate.Limiter) error {
	reserve := RoutineReserve(l.Burst())
	if l.Limit() == rate.Inf || reserve <= 0 {
		return l.Wait(ctx)
	}
	need := float64(reserve + 1)
	for {
		now := time.Now()
		if l.TokensAt(now) >= need && l.AllowN(now, 1) {
			return nil
		}
		// Sleep until the bucket refills past the reserve (other requests may take tokens
		// meanwhile: then look again).
		short := need - l.TokensAt(now)
		d := time.Duration(math.Max(short, 0.05) / float64(l.Limit()) * float64(time.Second))
		d = min(max(d, 10*time.Millisecond), time.Second)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
