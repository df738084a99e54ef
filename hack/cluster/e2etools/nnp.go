package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// nnp is test/images/nonewprivs' program: the image installs it setuid root, so its
// effective uid is 0 unless the container runs with no_new_privs (allowPrivilegeEscalation
// false), which the spec reads from the first line. The second line is the kernel's own
// NoNewPrivs flag, so the log says why.
func nnp(_ []string, _ io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "Effective uid: %d\n", os.Geteuid())
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Fprintln(stderr, "nnp:", err)
		return 1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "NoNewPrivs:"); ok {
			fmt.Fprintf(stdout, "NoNewPrivs: %s\n", strings.TrimSpace(v))
			return 0
		}
	}
	fmt.Fprintln(stderr, "nnp: no NoNewPrivs line in /proc/self/status")
	return 1
}
