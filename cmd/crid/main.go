// Command crid is the daemon (serving CRI) and its command-line tools.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "crid:", err)
		os.Exit(1)
	}
}
