// The pause container of the test bed's real node: it holds a pod's namespaces and does
// nothing else. No registry is reachable here, so the node cannot pull the usual one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// Reap orphans: as PID 1 of a pod sandbox, exited children are ours to wait for.
		children := make(chan os.Signal, 8)
		signal.Notify(children, syscall.SIGCHLD)
		for range children {
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}()
	<-signals
}
