package spec

import (
	"strconv"
	"strings"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Real-time signal bounds as user space (glibc, Docker) numbers them; the
// kernel reserves 32 and 33 for the C library.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// StopSignal is the signal StopContainer sends first: the request's
// stop_signal, else the image's StopSignal ("SIGTERM", "TERM", "15",
// "SIGRTMIN+3"), else SIGTERM.
func StopSignal(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) (syscall.Signal, error) {
	if s := cfg.GetStopSignal(); s != runtime.Signal_SIGNAL_RUNTIME_DEFAULT {
		name := strings.TrimPrefix(s.String(), "SIGNAL_")
		name = strings.Replace(strings.Replace(name, "MINPLUS", "MIN+", 1), "MAXMINUS", "MAX-", 1)
		sig, ok := parseSignal(name)
		if !ok {
			return 0, invalidf("stop_signal", "unknown signal %d", s)
		}
		return sig, nil
	}
	if img.StopSignal != "" {
		sig, ok := parseSignal(img.StopSignal)
		if !ok {
			return 0, invalidf("image config StopSignal", "unknown signal %q", img.StopSignal)
		}
		return sig, nil
	}
	return syscall.SIGTERM, nil
}

func parseSignal(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n), n > 0 && n <= sigRTMax
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	for base, sign := range map[string]int{"SIGRTMIN+": 1, "SIGRTMAX-": -1} {
		if off, ok := strings.CutPrefix(name, base); ok {
			n, err := strconv.Atoi(off)
			if err != nil || n < 0 {
				return 0, false
			}
			sig := sigRTMin + n
			if sign < 0 {
				sig = sigRTMax - n
			}
			return syscall.Signal(sig), sig >= sigRTMin && sig <= sigRTMax
		}
	}
	switch name {
	case "SIGRTMIN":
		return sigRTMin, true
	case "SIGRTMAX":
		return sigRTMax, true
	}
	sig := unix.SignalNum(name)
	return sig, sig != 0
}
