package images

import (
	"errors"
	"io/fs"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

// The unpacked busybox images work: a chroot into the snapshot runs the shell and applets
// (libraries found, hard links intact).
func TestBusyboxSnapshotRuns(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	builds := map[string]func() (v1.Image, error){"dynamic": testimages.Busybox, "static": testimages.BusyboxStatic}
	for name, build := range builds {
		t.Run(name, func(t *testing.T) {
			img, err := build()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "setup.sh") {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			push(t, reg, "run/"+name+":1", img)
			e := newEnv(t, nil)
			got := e.pull(t, reg.Ref("run/"+name+":1"))
			cmd := exec.Command("/bin/sh", "-c", "echo ok; id -u; ls / | grep -c .; seq 3 | tail -1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: e.svc.snapshotFS(got.ChainID)}
			cmd.Dir = "/"
			cmd.Env = []string{"PATH=/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ok\n0\n") || !strings.HasSuffix(string(out), "3\n") {
				t.Fatalf("chroot run: %v: %q", err, out)
			}
		})
	}
}
