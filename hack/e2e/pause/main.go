// Command pause is the sandbox ("pause") container of the e2e node: it holds a pod's
// namespaces, reaps the zombies of processes that share its PID namespace, and exits on
// SIGINT or SIGTERM. The e2e test builds it into an image with hack/image, so the node needs no
// registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
