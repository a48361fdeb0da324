package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

type waitOptions struct {
	*Options
	wait    bool
	timeout time.Duration
}

func (w *waitOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.wait, "wait", true, "Wait until the operator has handled the request and print the result")
	cmd.Flags().DurationVar(&w.timeout, "timeout", 2*time.Minute, "How long to wait for the operator (exit code 2 when it runs out)")
}

func newReconcileCommand(o *Options) *cobra.Command {
	w := &waitOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "reconcile KIND/NAME",
		Short: "Ask the operator to reconcile an object now, including a remote drift check",
		Long: `Set the annotation ` + b24v1.ReconcileRequestedAtAnnotation + ` to the current time, which makes the
operator reconcile the object at once (with a drift check against Bitrix24), then wait until
status.lastHandledReconcileAt shows the same value and print the Ready condition.

KIND is a kind, plural or short name of b24ops.io (chatbot, b24bot, chatbots.b24ops.io...).
Exit code 2: the operator handled the request but the object is not Ready, or it did not
handle it within --timeout.`,
		Example: `  kubectl b24 reconcile -n team-a chatbot/support
  kubectl b24 reconcile -n team-a b24portal/acme --timeout 30s
  kubectl b24 reconcile -n team-a mbjob/monday-digest --wait=false`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, err := splitKindName(args)
			if err != nil {
				return err
			}
			return w.request(cmd.Context(), kind, name, b24v1.ReconcileRequestedAtAnnotation, "lastHandledReconcileAt", "")
		},
	}
	w.addFlags(cmd)
	return cmd
}

func newResendCommand(o *Options) *cobra.Command {
	w := &waitOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "resend scheduledjob/NAME",
		Short: "Ask the operator to send a ScheduledJob stalled with OutcomeUnknown once more",
		Long: `Set the annotation ` + b24v1.ResendAnnotation + ` to a new value. A ScheduledJob whose last send had an
unknown outcome (Ready=False, reason OutcomeUnknown: Metabot may or may not have scheduled
it) is then sent exactly once more. Check in Metabot first that the job did not run: the
operator cannot know. The command waits until status.handledResend shows the value and
prints the phase and the Ready condition.

Exit code 2: the job is not Ready after the resend, or the operator did not handle the
request within --timeout.`,
		Example: `  kubectl b24 resend -n team-a scheduledjob/monday-digest
  kubectl b24 resend -n team-a mbjob/monday-digest --timeout 1m`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, err := splitKindName(args)
			if err != nil {
				return err
			}
			return w.request(cmd.Context(), kind, name, b24v1.ResendAnnotation, "handledResend", kindScheduledJob)
		},
	}
	w.addFlags(cmd)
	return cmd
}

// request sets annotation to a new value (the time, like Flux's requestedAt) and waits until the
// operator copies it to status.<handledField>.
func (w *waitOptions) request(ctx context.Context, typedKind, name, annotation, handledField, onlyKind string) error {
	c, err := w.clients()
	if err != nil {
		return err
	}
	kind, err := c.resources.resolve(typedKind)
	if err != nil {
		return err
	}
	if onlyKind != "" && kind != onlyKind {
		return fmt.Errorf("%s works on %s objects only, not %s", annotation, onlyKind, kind)
	}
	res := c.dyn.Resource(c.resources.gvr(kind)).Namespace(c.namespace)
	value := w.now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotation: value}}})
	if err != nil {
		return err
	}
	if _, err := res.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate %s %s/%s: %w", kind, c.namespace, name, err)
	}
	ref := fmt.Sprintf("%s/%s", c.resources.byKind[kind].SingularName, name)
	fmt.Fprintf(w.Streams.Out, "%s annotated %s=%s\n", ref, annotation, value)
	if !w.wait {
		return nil
	}

	obj, err := w.waitFor(ctx, func(ctx context.Context) (*unstructured.Unstructured, bool, error) {
		got, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, false, fmt.Errorf("read %s %s/%s: %w", kind, c.namespace, name, err)
		}
		handled, _, _ := unstructured.NestedString(got.Object, "status", handledField)
		return got, handled == value, nil
	})
	if err != nil {
		return err
	}
	if obj == nil {
		return notReady("%s: the operator did not handle %s within %s (is it running, and is the object paused?)", ref, annotation, w.timeout)
	}
	return w.report(ref, kind, obj)
}

// report prints the outcome and fails with ExitNotReady unless Ready is True for the current
// generation.
func (w *waitOptions) report(ref, kind string, obj *unstructured.Unstructured) error {
	phase := ""
	if kind == kindScheduledJob {
		if p, ok := scalar(obj, "status", "phase"); ok {
			phase = " phase=" + p
		}
	}
	ready := condition(obj, b24v1.ConditionReady)
	if ready == nil {
		fmt.Fprintf(w.Streams.Out, "%s handled:%s no Ready condition yet\n", ref, phase)
		return notReady("%s is not Ready", ref)
	}
	fmt.Fprintf(w.Streams.Out, "%s handled:%s Ready=%s %s: %s\n", ref, phase, ready.Status, ready.Reason, ready.Message)
	gen, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if ready.Status != string(metav1.ConditionTrue) {
		return notReady("%s is not Ready (%s)", ref, ready.Reason)
	}
	if gen != obj.GetGeneration() {
		return notReady("%s is Ready for generation %d, not yet for the current generation %d", ref, gen, obj.GetGeneration())
	}
	return nil
}

// waitFor calls check every poll interval until it reports done, and returns its object; nil
// and no error when --timeout ran out first. Each read runs with the caller's context, not the
// deadline's, so a read in flight at the deadline is not mistaken for an API error.
func (w *waitOptions) waitFor(ctx context.Context, check func(context.Context) (*unstructured.Unstructured, bool, error)) (*unstructured.Unstructured, error) {
	deadline := time.Now().Add(w.timeout)
	tick := time.NewTicker(w.pollInterval())
	defer tick.Stop()
	for {
		obj, done, err := check(ctx)
		if err != nil {
			return nil, err
		}
		if done {
			return obj, nil
		}
		if time.Now().After(deadline) {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
