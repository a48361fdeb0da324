package bitrix

import (
	"sync"
	"time"
)

// Circuit is a per-host circuit breaker: after Threshold transport failures in a row (no
// answer at all: a timeout, a refused or dropped connection) it opens, and calls to the host
// fail at once, without a request and without a token of the rate limiter, until the cooldown
// has passed. Then one call goes through as a probe: an answer closes the circuit, another
// failure opens it again for twice as long (up to MaxCooldown).
//
// A portal that does not answer would otherwise hold a reconcile worker for a full request
// timeout per call, and a few such portals would starve every other one. Share one Circuit per
// portal host between all clients of that host, as with the limiter. Safe for concurrent use.
type Circuit struct {
	threshold   int
	cooldown    time.Duration
	maxCooldown time.Duration
	now         func() time.Time

	mu       sync.Mutex
	failures int           // consecutive failures while closed
	open     bool          // open or half-open
	until    time.Time     // end of the current cooldown
	next     time.Duration // cooldown of the next opening
	probing  bool          // a probe is in flight (half-open)
}

// CircuitConfig configures a Circuit; zero values take the defaults.
type CircuitConfig struct {
	// Threshold is how many transport failures in a row open the circuit. Default 3.
	Threshold int
	// Cooldown is how long the circuit stays open the first time. Default 30s.
	Cooldown time.Duration
	// MaxCooldown caps the cooldown, which doubles on every failed probe. Default 5m.
	MaxCooldown time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Defaults of CircuitConfig.
const (
	DefaultCircuitThreshold   = 3
	DefaultCircuitCooldown    = 30 * time.Second
	DefaultCircuitMaxCooldown = 5 * time.Minute
)

// NewCircuit builds a closed Circuit.
func NewCircuit(cfg CircuitConfig) *Circuit {
	c := &Circuit{threshold: cfg.Threshold, cooldown: cfg.Cooldown, maxCooldown: cfg.MaxCooldown, now: cfg.Now}
	if c.threshold <= 0 {
		c.threshold = DefaultCircuitThreshold
	}
	if c.cooldown <= 0 {
		c.cooldown = DefaultCircuitCooldown
	}
	if c.maxCooldown < c.cooldown {
		c.maxCooldown = max(DefaultCircuitMaxCooldown, c.cooldown)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.next = c.cooldown
	return c
}

// outcome is what one request told the circuit about its host.
type outcome int

const (
	// answered: the host answered (whatever it said).
	answered outcome = iota
	// unreachable: no answer (timeout, connection refused or dropped).
	unreachable
	// neutral: nothing was learnt (the caller gave up before an answer could come, the
	// request was never sent).
	neutral
)

// allow asks whether a request may be sent now. When it may, done must be called once with
// what the request learnt. When it may not, wait is how long until the circuit lets a probe
// through.
func (c *Circuit) allow() (done func(outcome), wait time.Duration, ok bool) {
	if c == nil {
		return func(outcome) {}, 0, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	probe := false
	if c.open {
		now := c.now()
		if now.Before(c.until) {
			return nil, c.until.Sub(now), false
		}
		if c.probing {
			// Half-open: one probe at a time; the others wait as long as a cooldown.
			return nil, c.cooldown, false
		}
		c.probing, probe = true, true
	}
	var once sync.Once
	return func(o outcome) { once.Do(func() { c.report(o, probe) }) }, 0, true
}

func (c *Circuit) report(o outcome, probe bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if probe {
		c.probing = false
	}
	switch o {
	case answered:
		c.failures, c.open, c.next = 0, false, c.cooldown
	case unreachable:
		switch {
		case probe:
			c.trip()
		case !c.open:
			c.failures++
			if c.failures >= c.threshold {
				c.trip()
			}
		}
	}
}

// trip opens the circuit for the next cooldown and doubles the one after. Called with mu held.
func (c *Circuit) trip() {
	c.open, c.failures = true, 0
	c.until = c.now().Add(c.next)
	c.next = min(2*c.next, c.maxCooldown)
}

// Open says whether calls are being held back (open or half-open).
func (c *Circuit) Open() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}
