package webhook_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules/rulestest"
	"github.com/b24ops/b24-operator/internal/webhook"
)

func cronJob(ns, name, schedule string, tz *string) *b24v1.ScheduledJob {
	code := "digest"
	return &b24v1.ScheduledJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: b24v1.ScheduledJobSpec{
			MetabotRef: b24v1.LocalObjectReference{Name: "sales"},
			Script:     &b24v1.JobTarget{Code: &code},
			Schedule:   &schedule,
			TimeZone:   tz,
		},
	}
}

func ptr[T any](v T) *T { return &v }

// Through the API server: schedules the schema's pattern lets through but cron cannot parse.
func TestScheduledJobAdmission(t *testing.T) {
	ns := namespace(t)
	cases := []struct {
		name     string
		schedule string
		tz       *string
		want     []string
	}{
		{"a standard cron expression is admitted", "0 9 * * 1", nil, nil},
		{"a descriptor is admitted", "@daily", ptr("Europe/Moscow"), nil},
		{"a minute out of range is refused naming spec.schedule", "61 * * * *", nil, []string{"spec.schedule", `"61 * * * *"`, "cron expression", "above maximum"}},
		{"an unknown weekday name is refused", "0 9 * * FUNDAY", nil, []string{"spec.schedule", "cron expression"}},
		{"a time zone inside the expression is refused in favour of spec.timeZone", "TZ=UTC * * * *", nil, []string{"spec.schedule", "use spec.timeZone"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := cronJob(ns, "job-"+string(rune('a'+i)), tc.schedule, tc.tz)
			expect(t, env.Client.Create(context.Background(), job), tc.want)
		})
	}
}

func TestScheduledJobUpdate(t *testing.T) {
	ctx := context.Background()
	job := cronJob(namespace(t), "digest", "0 9 * * 1", nil)
	mustCreate(t, job)
	job.Spec.Schedule = ptr("0 25 * * 1")
	expect(t, env.Client.Update(ctx, job), []string{"spec.schedule", `"0 25 * * 1"`})
	job.Spec.Schedule = ptr("0 10 * * 1")
	job.Spec.Suspend = ptr(true)
	expect(t, env.Client.Update(ctx, job), nil)
}

// The schema refuses unknown zones itself (CEL, with the API server's zone database), so the
// webhook's own check is exercised directly: it must agree, with the operator's database.
func TestScheduledJobTimeZone(t *testing.T) {
	v := webhook.ScheduledJobValidator{}
	cases := []struct {
		tz   string
		want []string
	}{
		{"UTC", nil},
		{"Europe/Moscow", nil},
		{"America/Argentina/Buenos_Aires", nil},
		{"Local", []string{"spec.timeZone", `"Local"`, "IANA time zone"}},
		{"Mars/Olympus_Mons", []string{"spec.timeZone", "Mars/Olympus_Mons", "known IANA time zone"}},
	}
	for _, tc := range cases {
		t.Run(tc.tz, func(t *testing.T) {
			job := cronJob("ns", "job", "0 9 * * *", &tc.tz)
			_, err := v.ValidateCreate(context.Background(), job)
			checkDirect(t, err, tc.want)
			old := job.DeepCopy()
			old.Spec.TimeZone = nil
			_, err = v.ValidateUpdate(context.Background(), old, job)
			checkDirect(t, err, tc.want)
			// Unchanged on update: an existing value never blocks other edits.
			_, err = v.ValidateUpdate(context.Background(), job.DeepCopy(), job)
			checkDirect(t, err, nil)
		})
	}
}

// Admission judges every shared case as the controller does (see the controller's
// TestCronSharedCases): a schedule that never fires is refused here, not stalled later.
func TestScheduledJobSharedCases(t *testing.T) {
	v := webhook.ScheduledJobValidator{}
	for _, tc := range rulestest.ScheduleCases {
		t.Run(tc.Name, func(t *testing.T) {
			var tz *string
			if tc.TimeZone != "" {
				tz = &tc.TimeZone
			}
			_, err := v.ValidateCreate(context.Background(), cronJob("ns", "job", tc.Schedule, tz))
			var want []string
			if tc.Refused {
				want = []string{tc.Mention}
			}
			checkDirect(t, err, want)
		})
	}
}
