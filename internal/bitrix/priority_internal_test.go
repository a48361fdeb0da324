package bitrix

import (
	"context"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestRoutineRequestsLeaveTheReserve pins the priority of the limiter: a routine request does
// not take the tokens of the reserve, another request does; once the bucket refills past the
// reserve the routine request goes.
func TestRoutineRequestsLeaveTheReserve(t *testing.T) {
	cases := []struct {
		burst, reserve int
	}{
		{burst: 1, reserve: 0},
		{burst: 2, reserve: 1},
		{burst: 10, reserve: 2},
		{burst: 45, reserve: 9},
	}
	for _, c := range cases {
		if got := RoutineReserve(c.burst); got != c.reserve {
			t.Errorf("RoutineReserve(%d) = %d, want %d", c.burst, got, c.reserve)
		}
	}

	l := rate.NewLimiter(rate.Limit(1), 10)
	if !l.AllowN(time.Now(), 8) { // 2 tokens left: the reserve
		t.Fatal("cannot drain the bucket")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := waitRoutine(ctx, l); err == nil {
		t.Fatal("a routine request took a token of the reserve")
	}
	if !l.Allow() {
		t.Fatal("another request found no token in the reserve")
	}
	l.SetLimit(rate.Limit(100)) // refill fast
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := waitRoutine(ctx2, l); err != nil {
		t.Fatalf("the routine request did not go once the bucket refilled: %v", err)
	}
	if IsRoutine(context.Background()) || !IsRoutine(Routine(context.Background())) {
		t.Fatal("IsRoutine does not read Routine's mark")
	}
}
