package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// runSpare is a monitor started before its pod (api.SpareArg): what does not depend
// on the pod is done, then it waits on conn for its adoption and goes on as run does
// for a monitor started for that pod. conn's end with nothing said means crid is gone:
// the spare exits, leaving nothing behind.
func runSpare(level string, maxLogLine int, kern *kernel.Features, rt *runtimeFlags, sw switchOptions, conn *os.File) int {
	heapGoals()
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
	executor, attach := rt.executor(newExecutor(kern))
	b, err := io.ReadAll(io.LimitReader(conn, api.MaxAdoption))
	if err != nil || len(b) == 0 {
		return 0
	}
	podID, stateDir, err := api.ParseAdoption(b)
	if err != nil {
		fmt.Fprintf(conn, "spare: %v\n", err)
		return 1
	}
	sw.argv = adoptedArgv(sw.argv, podID, stateDir)
	setCmdline(sw.argv)
	return run(podID, stateDir, level, maxLogLine, executor, attach, sw, conn)
}

// adoptedArgv is the command line of a monitor started for the pod: what the idle
// switch execs the Go body with again, and what ps shows.
func adoptedArgv(spare []string, podID, stateDir string) []string {
	out := []string{spare[0], "monitor", podID, "--state-dir", stateDir}
	for _, a := range spare[2:] {
		if a != "" { // api.SpareRoom
			out = append(out, a)
		}
	}
	return out
}

// argRegion is the process's original argument strings, which /proc/self/cmdline
// shows: os.Args pointed into them until keepArgRegion.
var argRegion []byte

// keepArgRegion takes the spare's argument strings for setCmdline to rewrite and gives
// os.Args copies: flag values and the switch's argv are substrings of them, and must
// not change under Go's feet. Without the kernel's word on where they are (the
// fields arg_start and arg_end of /proc/self/stat), or if they are not one run of
// NUL-terminated strings from os.Args[0], nothing is taken.
func keepArgRegion() {
	args := os.Args
	copied := make([]string, len(args))
	for i, a := range args {
		copied[i] = strings.Clone(a)
	}
	os.Args = copied
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil || len(args) == 0 || len(args[0]) == 0 {
		return
	}
	f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	if len(f) < 47 {
		return
	}
	// Fields 48 and 49 of stat, counted from 1 with pid and comm.
	start, err1 := strconv.ParseUint(string(f[45]), 10, 64)
	end, err2 := strconv.ParseUint(string(f[46]), 10, 64)
	if err1 != nil || err2 != nil || end <= start {
		return
	}
	region := unsafe.Slice(unsafe.StringData(args[0]), end-start)
	if uint64(uintptr(unsafe.Pointer(&region[0]))) != start {
		return
	}
	// Each argument and its NUL, one after another, to the end.
	off := 0
	for _, a := range args {
		if off+len(a) >= len(region) || string(region[off:off+len(a)]) != a || region[off+len(a)] != 0 {
			return
		}
		off += len(a) + 1
	}
	if off == len(region) {
		argRegion = region
	}
}

// setCmdline makes /proc/self/cmdline argv by rewriting the spare's argument strings
// in place (NUL-padded to their length): ps, the node's tools and crid's tests find a
// pod's monitor by "crid-monitor monitor <pod id>". If argv does not fit, the spare's
// command line stays until the idle switch execs argv.
func setCmdline(argv []string) {
	b := []byte(strings.Join(argv, "\x00") + "\x00")
	if len(b) > len(argRegion) {
		return
	}
	n := copy(argRegion, b)
	clear(argRegion[n:])
}
