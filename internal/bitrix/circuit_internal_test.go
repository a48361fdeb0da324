package bitrix

import (
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time      { return f.t }
func (f *fakeClock) add(d time.Duration) { f.t = f.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (f *fakeClock) config() CircuitConfig {
	return CircuitConfig{Threshold: 3, Cooldown: 10 * time.Second, MaxCooldown: 40 * time.Second, Now: f.now}
}

// report sends one request through c with outcome o, saying whether c let it through.
func report(c *Circuit, o outcome) bool {
	done, _, ok := c.allow()
	if ok {
		done(o)
	}
	return ok
}

func TestCircuit(t *testing.T) {
	cases := []struct {
		name string
		// steps run against a fresh circuit; each returns "" or what went wrong.
		steps func(c *Circuit, clock *fakeClock) string
	}{
		{"failures below the threshold keep it closed", func(c *Circuit, _ *fakeClock) string {
			report(c, unreachable)
			report(c, unreachable)
			if c.Open() || !report(c, answered) {
				return "two failures opened the circuit"
			}
			return ""
		}},
		{"an answer resets the count of failures in a row", func(c *Circuit, _ *fakeClock) string {
			report(c, unreachable)
			report(c, unreachable)
			report(c, answered)
			report(c, unreachable)
			report(c, unreachable)
			if c.Open() {
				return "failures that were not in a row opened the circuit"
			}
			return ""
		}},
		{"neutral outcomes (caller gave up, not sent) count for nothing", func(c *Circuit, _ *fakeClock) string {
			for range 10 {
				report(c, neutral)
			}
			if c.Open() {
				return "neutral outcomes opened the circuit"
			}
			return ""
		}},
		{"the threshold of failures in a row opens it: calls are refused with the time left", func(c *Circuit, clock *fakeClock) string {
			for range 3 {
				report(c, unreachable)
			}
			if !c.Open() {
				return "three failures did not open the circuit"
			}
			clock.add(4 * time.Second)
			_, wait, ok := c.allow()
			if ok || wait != 6*time.Second {
				return "an open circuit let a call through or said the wrong wait"
			}
			return ""
		}},
		{"after the cooldown one probe goes through, the others wait", func(c *Circuit, clock *fakeClock) string {
			for range 3 {
				report(c, unreachable)
			}
			clock.add(10 * time.Second)
			done, _, ok := c.allow()
			if !ok {
				return "no probe after the cooldown"
			}
			if _, _, ok := c.allow(); ok {
				return "a second call went through while the probe was in flight"
			}
			done(answered)
			if c.Open() || !report(c, answered) {
				return "a successful probe did not close the circuit"
			}
			return ""
		}},
		{"a failed probe opens it again for twice as long, capped", func(c *Circuit, clock *fakeClock) string {
			for range 3 {
				report(c, unreachable)
			}
			for _, want := range []time.Duration{20 * time.Second, 40 * time.Second, 40 * time.Second} {
				clock.add(time.Hour)
				if !report(c, unreachable) { // the probe fails
					return "no probe after the cooldown"
				}
				if _, wait, ok := c.allow(); ok || wait != want {
					return "wrong cooldown after a failed probe: " + wait.String() + ", want " + want.String()
				}
			}
			return ""
		}},
		{"a probe whose caller gave up lets the next call probe", func(c *Circuit, clock *fakeClock) string {
			for range 3 {
				report(c, unreachable)
			}
			clock.add(10 * time.Second)
			report(c, neutral)
			if !report(c, answered) || c.Open() {
				return "the probe slot was not released by a neutral outcome"
			}
			return ""
		}},
		{"after closing, the cooldown starts from the first one again", func(c *Circuit, clock *fakeClock) string {
			for range 3 {
				report(c, unreachable)
			}
			clock.add(10 * time.Second)
			report(c, unreachable) // failed probe: next cooldown 20s
			clock.add(20 * time.Second)
			report(c, answered) // closed
			for range 3 {
				report(c, unreachable)
			}
			if _, wait, ok := c.allow(); ok || wait != 10*time.Second {
				return "the cooldown was not reset by closing: " + wait.String()
			}
			return ""
		}},
		{"done counts once", func(c *Circuit, _ *fakeClock) string {
			done, _, _ := c.allow()
			for range 5 {
				done(unreachable)
			}
			if c.Open() {
				return "one request's outcome counted several times"
			}
			return ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			if msg := tc.steps(NewCircuit(clock.config()), clock); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestNilCircuitAlwaysAllows(t *testing.T) {
	var c *Circuit
	for range 10 {
		if !report(c, unreachable) {
			t.Fatal("a nil circuit refused a call")
		}
	}
	if c.Open() {
		t.Fatal("a nil circuit is open")
	}
}
