package api

import (
	"bytes"
	"errors"
	"path/filepath"
)

// SpareArg is crid-monitor's first argument for a spare: a monitor started ahead of
// its pod, so that RunPodSandbox adopts a process that has already exec'd and started
// its Go runtime. A spare is started with DetachEnv like any monitor and holds fd 3, a
// socket whose other end only crid holds. It reads that socket to its end: the
// adoption message (AdoptionMessage) makes it the pod's monitor, which then answers on
// the same socket as a started monitor does on its readiness pipe ("ok", or why not);
// nothing (crid stopped or was killed) makes it exit. A spare has nothing on disk.
const SpareArg = "spare"

// SpareRoom is how many empty arguments a spare is started with, after its flags: the
// bytes of the command line its adoption rewrites in place to the one of a monitor
// started for the pod ("monitor <pod id> --state-dir DIR ..."), which ps, the node's
// tools and tests look for.
const SpareRoom = 384

// MaxAdoption bounds an adoption message: a pod id and a state dir path.
const MaxAdoption = 8 << 10

// AdoptionMessage tells a spare which pod it monitors and where that pod's state is.
func AdoptionMessage(podID, stateDir string) []byte {
	return []byte(podID + "\x00" + stateDir)
}

// ParseAdoption reads AdoptionMessage.
func ParseAdoption(b []byte) (podID, stateDir string, err error) {
	id, dir, ok := bytes.Cut(b, []byte{0})
	if !ok || !ValidID(string(id)) || !filepath.IsAbs(string(dir)) || bytes.IndexByte(dir, 0) >= 0 {
		return "", "", errors.New("bad adoption message")
	}
	return string(id), string(dir), nil
}
