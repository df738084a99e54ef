// Command crid-monitor is the per-pod monitor started by crid, and the container init.
// It is its own small binary so that each pod's monitor costs little memory.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "crid-monitor: started by crid, not by hand (modes: monitor, init, pause)")
	os.Exit(2)
}
