package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// ignoreSignals makes the monitor outlive a terminal or a ^C aimed at crid (SIGHUP,
// SIGINT), a reader gone (SIGPIPE), and the signals Go's runtime drops when nobody
// asked for them (a stray kill -USR1, SIGPWR, a SIGXFSZ past RLIMIT_FSIZE, real-time
// ones). Ignored for real (SIG_IGN), they stay ignored across the execve into the
// monitor's C body and back, where a default disposition would kill the monitor and
// leave the pod's containers unsupervised. Containers start with every signal at its
// default: package oci resets them before the user's process.
func ignoreSignals() {
	sigs := []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGPIPE, unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM,
		unix.SIGIO, unix.SIGPWR, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM}
	for s := 35; s <= 64; s++ { // SIGRTMIN+3 on: 32-34 are the C libraries'
		sigs = append(sigs, syscall.Signal(s))
	}
	signal.Ignore(sigs...)
}
