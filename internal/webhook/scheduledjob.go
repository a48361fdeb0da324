package webhook

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/rules"
)

// +kubebuilder:webhook:path=/validate-b24ops-io-v1alpha1-scheduledjob,mutating=false,failurePolicy=fail,sideEffects=None,groups=b24ops.io,resources=scheduledjobs,verbs=create;update,versions=v1alpha1,name=vscheduledjob.b24ops.io,admissionReviewVersions=v1,timeoutSeconds=10,serviceName=b24-operator-webhook,serviceNamespace=b24-operator-system

// ScheduledJobValidator checks what the schema can only approximate: that the cron expression
// parses the way the controller will parse it and that the time zone exists in the operator's
// zone database. It reads nothing from the cluster.
type ScheduledJobValidator struct{}

var _ admission.Validator[*b24v1.ScheduledJob] = ScheduledJobValidator{}

// ValidateCreate refuses an unparsable schedule or an unknown time zone.
func (ScheduledJobValidator) ValidateCreate(_ context.Context, job *b24v1.ScheduledJob) (admission.Warnings, error) {
	if errs := scheduleErrors(job, nil); len(errs) > 0 {
		return nil, invalid(job, errs)
	}
	return nil, nil
}

// ValidateUpdate checks the schedule and time zone only when they change, so a job stored
// before a rule existed can still be edited, suspended or deleted.
func (ScheduledJobValidator) ValidateUpdate(_ context.Context, old, job *b24v1.ScheduledJob) (admission.Warnings, error) {
	if job.DeletionTimestamp != nil {
		return nil, nil
	}
	if errs := scheduleErrors(job, old); len(errs) > 0 {
		return nil, invalid(job, errs)
	}
	return nil, nil
}

// ValidateDelete allows every delete.
func (ScheduledJobValidator) ValidateDelete(context.Context, *b24v1.ScheduledJob) (admission.Warnings, error) {
	return nil, nil
}

func scheduleErrors(job, old *b24v1.ScheduledJob) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if s := job.Spec.Schedule; s != nil && (old == nil || !equalPtr(old.Spec.Schedule, s)) {
		if err := ParseSchedule(*s); err != nil {
			errs = append(errs, field.Invalid(spec.Child("schedule"), *s, err.Error()))
		}
	}
	if tz := job.Spec.TimeZone; tz != nil && (old == nil || !equalPtr(old.Spec.TimeZone, tz)) {
		if _, err := LoadTimeZone(*tz); err != nil {
			errs = append(errs, field.Invalid(spec.Child("timeZone"), *tz, err.Error()))
		}
	}
	return errs
}

// ParseSchedule checks a schedule by the rule the controller runs it with (rules.ParseSchedule):
// a schedule that never fires is refused here, not stalled later.
func ParseSchedule(s string) error {
	_, err := rules.ParseSchedule(s)
	return err
}

// LoadTimeZone loads an IANA zone by the controller's rule (rules.LoadTimeZone); an empty
// value is refused here, where it can only be a mistake.
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, fmt.Errorf("must be an IANA time zone such as Europe/Moscow or UTC, not %q", name)
	}
	return rules.LoadTimeZone(name)
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
