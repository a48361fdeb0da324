// Package rulestest holds the cases that admission and reconcile must both answer the same
// way; the webhook's and the controller's tests each run every one of them.
package rulestest

// ScheduleCase is one spec.schedule / spec.timeZone pair.
type ScheduleCase struct {
	Name     string
	Schedule string
	TimeZone string
	// Refused says both must refuse it; Mention is a word the refusal contains.
	Refused bool
	Mention string
}

// ScheduleCases are the schedules both sides judge.
var ScheduleCases = []ScheduleCase{
	{Name: "five fields", Schedule: "0 9 * * 1-5"},
	{Name: "a descriptor", Schedule: "@daily"},
	{Name: "a zone", Schedule: "30 2 * * *", TimeZone: "Europe/Berlin"},
	{Name: "the 29th of February fires in leap years", Schedule: "0 0 29 2 *"},
	{Name: "the 30th of February never fires", Schedule: "0 0 30 2 *", Refused: true, Mention: "never fires"},
	{Name: "the 31st of April never fires", Schedule: "0 0 31 4 *", Refused: true, Mention: "never fires"},
	{Name: "a CRON_TZ prefix belongs in timeZone", Schedule: "CRON_TZ=Europe/Berlin 0 9 * * *", Refused: true, Mention: "spec.timeZone"},
	{Name: "a TZ prefix without a space", Schedule: "TZ=UTC", Refused: true, Mention: "spec.timeZone"},
	{Name: "@every is an interval", Schedule: "@every 5m", Refused: true, Mention: "@every"},
	{Name: "six fields are not standard cron", Schedule: "0 0 9 * * *", Refused: true, Mention: "5-field"},
	{Name: "an unknown zone", Schedule: "0 9 * * *", TimeZone: "Mars/Olympus", Refused: true, Mention: "IANA"},
	{Name: "Local depends on the host", Schedule: "0 9 * * *", TimeZone: "Local", Refused: true, Mention: "IANA"},
}
