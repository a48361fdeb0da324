// Package rules holds the rules admission (internal/webhook) and reconcile
// (internal/controller) must agree on, so the two can never disagree: a schedule the webhook
// admits is one the controller runs, and one the controller would stall on is refused at
// admission by the same function.
package rules

import (
	"fmt"
	"strings"
	"time"
	// The zone database is embedded so that spec.timeZone never depends on the image.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// ParseSchedule parses spec.schedule: a standard five-field cron expression or a descriptor
// such as @daily, with the zone given only by spec.timeZone. It refuses a zone inside the
// expression (CRON_TZ=, TZ=), @every (an interval, not a schedule) and a schedule that never
// fires ("0 0 30 2 *": robfig/cron finds no tick within five years).
func ParseSchedule(expr string) (cron.Schedule, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
		return nil, fmt.Errorf("must not set a time zone inside the cron expression: use spec.timeZone")
	}
	if strings.HasPrefix(e, "@every") {
		return nil, fmt.Errorf("@every is not a cron schedule: use a five-field expression or a descriptor such as @hourly")
	}
	s, err := cron.ParseStandard(e)
	if err != nil {
		return nil, fmt.Errorf("must be a standard 5-field cron expression (minute hour day-of-month month day-of-week) or a descriptor such as @daily: %v", err)
	}
	if s.Next(time.Now().UTC()).IsZero() {
		return nil, fmt.Errorf("never fires: no date matches it (such as the 30th of February)")
	}
	return s, nil
}

// LoadTimeZone loads spec.timeZone, an IANA zone; "" means UTC. "Local" is refused: it would
// mean the operator pod's zone, which nobody applying the manifest controls.
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf("must be an IANA time zone such as Europe/Moscow or UTC, not %q", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("must be a known IANA time zone such as Europe/Moscow or UTC: %v", err)
	}
	return loc, nil
}
