// Command crid is the daemon (serving CRI) and its command-line tools.
package main

import (
	"fmt"
	"os"

	"github.com/crid-dev/crid/cli"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		if code, ok := cli.ExitCode(err); ok { // a container's own exit status
			os.Exit(code)
		}
		fmt.Fprintln(os.Stderr, "crid:", err)
		os.Exit(1)
	}
}
