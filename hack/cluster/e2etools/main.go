// Command e2etools stands in, inside the e2e test images hack/cluster builds, for programs
// that upstream's Alpine-based images carry and Debian's busybox lacks or breaks: an
// OpenBSD-style nc, curl, a wget whose -T works (Debian busybox 1.35's segfaults), and
// nonewprivs' nnp. One static binary; like busybox, the program is chosen by the name it
// runs as (the images link each name to it), or by its first argument.
//
// Each does what the upstream e2e specs (k8s.io/kubernetes test/e2e) ask of it, no more: an
// option it does not know is refused with the usual "invalid option" exit code, so that a
// spec relying on more fails visibly instead of passing on a guess.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

type tool func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

var tools = map[string]tool{
	"nc":   nc,
	"curl": curl,
	"wget": wget,
	"nnp":  nnp,
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := tools[name]; !ok && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	t, ok := tools[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: e2etools nc|curl|wget|nnp [args] (or run as one of those names)")
		os.Exit(2)
	}
	os.Exit(t(args, os.Stdin, os.Stdout, os.Stderr))
}
