// Command kubectl-b24 is the kubectl plugin of b24-operator (`kubectl b24 ...`). Install it with
// `go install github.com/b24ops/b24-operator/cmd/kubectl-b24@latest` or through Krew
// (plugins/b24.yaml); the commands live in internal/plugin.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/b24ops/b24-operator/internal/plugin"
)

func main() {
	o := &plugin.Options{Streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}}
	err := plugin.NewCommand(o).Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	os.Exit(plugin.ExitCode(err))
}
