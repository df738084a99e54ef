package main

import (
	"bytes"
	"errors"
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
	cmdlineErr := setCmdline(sw.argv)
	var over argvTooLong
	if errors.As(cmdlineErr, &over) {
		// The room fits a pod's state dir (<state>/pods/<id>) of crid's state setting up
		// to 234 bytes; crid takes longer ones.
		cmdlineErr = fmt.Errorf("%w: the pod's state dir is %d bytes, at most %d fit", cmdlineErr, len(stateDir), len(stateDir)-int(over))
	}
	return run(podID, stateDir, level, maxLogLine, executor, attach, sw, conn, cmdlineErr)
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
// shows: os.Args pointed into them until keepArgRegion. errNoArgRegion is why it is nil.
var (
	argRegion      []byte
	errNoArgRegion = errors.New("the argument strings were not kept")
)

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
		errNoArgRegion = fmt.Errorf("no argument strings to rewrite: %d args, %v", len(args), err)
		return
	}
	f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	if len(f) < 47 {
		errNoArgRegion = fmt.Errorf("/proc/self/stat has %d fields after comm, no arg_start and arg_end", len(f))
		return
	}
	// Fields 48 and 49 of stat, counted from 1 with pid and comm.
	start, err1 := strconv.ParseUint(string(f[45]), 10, 64)
	end, err2 := strconv.ParseUint(string(f[46]), 10, 64)
	if err1 != nil || err2 != nil || end <= start {
		errNoArgRegion = fmt.Errorf("/proc/self/stat: arg_start %q, arg_end %q", f[45], f[46])
		return
	}
	region := unsafe.Slice(unsafe.StringData(args[0]), end-start)
	if uint64(uintptr(unsafe.Pointer(&region[0]))) != start {
		errNoArgRegion = errors.New("os.Args[0] is not at arg_start")
		return
	}
	// Each argument and its NUL, one after another, to the end.
	off := 0
	for i, a := range args {
		if off+len(a) >= len(region) || string(region[off:off+len(a)]) != a || region[off+len(a)] != 0 {
			errNoArgRegion = fmt.Errorf("argument %d is not where arg_start..arg_end has it", i)
			return
		}
		off += len(a) + 1
	}
	if off != len(region) {
		errNoArgRegion = fmt.Errorf("the arguments end %d bytes before arg_end", len(region)-off)
		return
	}
	argRegion, errNoArgRegion = region, nil
}

// setCmdline makes /proc/self/cmdline argv by rewriting the spare's argument strings
// in place (NUL-padded to their length): ps, the node's tools and crid's tests find a
// pod's monitor by "crid-monitor monitor <pod id>". If it cannot (errNoArgRegion, or
// argvTooLong), the spare's command line stays until the idle switch execs argv.
func setCmdline(argv []string) error {
	if argRegion == nil {
		return fmt.Errorf("command line not rewritten: %w", errNoArgRegion)
	}
	b := []byte(strings.Join(argv, "\x00") + "\x00")
	if over := len(b) - len(argRegion); over > 0 {
		return argvTooLong(over)
	}
	n := copy(argRegion, b)
	clear(argRegion[n:])
	return nil
}

// argvTooLong is how many bytes the pod's command line is longer than the spare's.
type argvTooLong int

func (n argvTooLong) Error() string {
	return fmt.Sprintf("command line not rewritten: the pod's is %d bytes longer than the spare's (api.SpareRoom)", int(n))
}
