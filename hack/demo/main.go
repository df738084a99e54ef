// Command demo shows crid working end to end on its built-in defaults: it starts a crid,
// imports a locally built busybox image, runs a web server pod with a hostPort, fetches the
// page with curl, shows logs, exec and stats, then removes everything and stops crid.
//
// It talks to crid only through the CRI gRPC API, as kubelet does. Run it through
// hack/demo.sh (make demo), as root, after hack/setup.sh and make build.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	binDir := flag.String("bin-dir", "bin", "directory holding crid and crid-monitor (make build)")
	keep := flag.Bool("keep-logs", false, "keep crid's log file after a successful run")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: run as root (crid creates namespaces, cgroups and network devices)")
		os.Exit(1)
	}
	abs, err := filepath.Abs(*binDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	d := &demo{binDir: abs, keepLogs: *keep}

	// Ctrl-C or SIGTERM: stop the steps, then clean up as on any other exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = d.run(ctx)
	stop()
	logTail := ""
	if err != nil && d.logPath != "" {
		logTail = tail(d.logPath, 40) // before cleanup removes it
	}
	cleanErr := d.cleanup()
	switch {
	case err != nil:
		fail("demo failed: %v", err)
		if d.logPath != "" {
			fmt.Fprintf(os.Stderr, "\ncrid's log (%s), last lines:\n%s\n", d.logPath, logTail)
		}
		os.Exit(1)
	case cleanErr != nil:
		fail("cleanup failed: %v", cleanErr)
		os.Exit(1)
	}
	say("\nDemo complete: crid ran a pod on its defaults and left nothing behind.")
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var start = time.Now()

// bold and red are ANSI escapes when the output is a terminal, empty otherwise (logs).
var bold, red, reset = func() (string, string, string) {
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return "\033[1m", "\033[1;31m", "\033[0m"
	}
	return "", "", ""
}()

func step(format string, a ...any) {
	fmt.Printf("\n%s==> [%5.1fs] %s%s\n", bold, time.Since(start).Seconds(), fmt.Sprintf(format, a...), reset)
}

func say(format string, a ...any) { fmt.Printf(format+"\n", a...) }

// show prints command or file output indented under a step.
func show(s string) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Println("    " + l)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "\n%sdemo: %s%s\n", red, fmt.Sprintf(format, a...), reset)
}
