// Package plugin is kubectl-b24, the kubectl plugin of b24-operator: `tree` shows the objects of
// a namespace as the operator sees them, `reconcile` and `resend` set the annotations that ask
// the operator to act now and wait for its answer, and `import` reads an existing portal's bots
// and prints manifests that bring them under GitOps without changing them.
//
// Every Kubernetes call runs as the user (their kubeconfig, their RBAC, no impersonation), and
// the kinds are read as unstructured objects found through discovery, so the plugin works with
// any version of the CRDs installed, including before a kind (BotCommand) exists.
package plugin

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Exit codes.
const (
	ExitOK = 0
	// ExitError is any failure: bad usage, an API error, a refused request.
	ExitError = 1
	// ExitNotReady means the plugin waited and the object did not become Ready: the operator
	// answered with Ready other than True, or it did not answer before --timeout.
	ExitNotReady = 2
)

// ExitCodeError carries the process exit code with the error that caused it.
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string { return e.Err.Error() }
func (e *ExitCodeError) Unwrap() error { return e.Err }

// ExitCode maps the error Execute returned to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *ExitCodeError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitError
}

func notReady(format string, args ...any) error {
	return &ExitCodeError{Code: ExitNotReady, Err: fmt.Errorf(format, args...)}
}

// Options are what the commands share. Tests set Now and PollInterval.
type Options struct {
	Streams     genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	// Now is the clock that makes the annotation values. Defaults to time.Now.
	Now func() time.Time
	// PollInterval is how often a wait re-reads the object. Defaults to one second.
	PollInterval time.Duration
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) pollInterval() time.Duration {
	if o.PollInterval > 0 {
		return o.PollInterval
	}
	return time.Second
}

// NewCommand builds `kubectl b24` with its subcommands and the standard kubeconfig flags.
func NewCommand(o *Options) *cobra.Command {
	if o.ConfigFlags == nil {
		o.ConfigFlags = genericclioptions.NewConfigFlags(true)
	}
	root := &cobra.Command{
		Use:   "kubectl-b24",
		Short: "Inspect and drive b24-operator objects (Bitrix24 bots, apps, chats, Metabot jobs)",
		Long: `kubectl b24 works with the objects of b24-operator (API group b24ops.io).

  tree       Portal -> ChatBots -> ChatApps / Chats / BotCommands, Metabot -> ScheduledJobs
  reconcile  ask the operator to reconcile an object now (with a drift check) and wait
  resend     ask the operator to send a ScheduledJob stalled with OutcomeUnknown again
  import     print ObserveOnly manifests for the bots that already exist on a portal

Exit codes: 0 success, 1 error, 2 waited but the object did not become Ready (or timed out).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl b24",
		},
	}
	root.SetIn(o.Streams.In)
	root.SetOut(o.Streams.Out)
	root.SetErr(o.Streams.ErrOut)
	o.ConfigFlags.AddFlags(root.PersistentFlags())
	root.AddCommand(newTreeCommand(o), newReconcileCommand(o), newResendCommand(o), newImportCommand(o), newVersionCommand(o))
	return root
}
