package spec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/internal/testenv"
)

// uid and gid 2^32-1 mean "no change" to setresuid/setresgid: an image naming them in
// /etc/passwd or /etc/group would run as root while ContainerStatus reported 4294967295.
func TestResolveUserRefusesNoChangeIDs(t *testing.T) {
	etc := fstest.MapFS{
		"etc/passwd": {Data: []byte("root:x:0:0::/root:/bin/sh\nevil:x:4294967295:0::/:/bin/sh\nevilgid:x:1000:4294967295::/:/bin/sh\nok:x:1001:1001::/:/bin/sh\n")},
		"etc/group":  {Data: []byte("root:x:0:\nevilg:x:4294967295:ok\n")},
	}
	i64 := func(v int64) *runtime.Int64Value { return &runtime.Int64Value{Value: v} }
	for _, tt := range []struct {
		name, user string
		sc         *runtime.LinuxContainerSecurityContext
		field      string
	}{
		{"USER name with uid -1", "evil", nil, "image config User"},
		{"USER name with gid -1", "evilgid", nil, "image config User"},
		{"USER uid:group with gid -1", "1001:evilg", nil, "image config User"},
		{"membership in a group with gid -1", "ok", nil, "supplemental_groups_policy"},
		{"run_as_username with uid -1", "", &runtime.LinuxContainerSecurityContext{RunAsUsername: "evil"}, "run_as_username"},
		{"run_as_user whose passwd gid is -1", "", &runtime.LinuxContainerSecurityContext{RunAsUser: i64(1000)}, "run_as_user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ResolveUser(etc, tt.user, tt.sc)
			if err == nil {
				t.Fatalf("resolved to %+v, want an error", *u)
			}
			wantInvalid(t, err, tt.field)
			if !strings.Contains(err.Error(), "4294967295") {
				t.Errorf("error %q does not name the id", err)
			}
		})
	}
	// Strict ignores /etc/group, so the bad group does not matter.
	if _, err := ResolveUser(etc, "ok", &runtime.LinuxContainerSecurityContext{SupplementalGroupsPolicy: runtime.SupplementalGroupsPolicy_Strict}); err != nil {
		t.Errorf("strict policy: %v", err)
	}
}

// In a user namespace, an id the mapping does not cover cannot be set: refused at create,
// naming the id, for the container's user, group, supplemental groups and the pod's.
func TestUserOutsideUsernsMapping(t *testing.T) {
	userns := &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
		Uids: []*runtime.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}},
		Gids: []*runtime.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}}}
	i64 := func(v int64) *runtime.Int64Value { return &runtime.Int64Value{Value: v} }
	for _, tt := range []struct {
		name  string
		user  string
		sc    *runtime.LinuxContainerSecurityContext
		bad   string
		field string
	}{
		{"image uid", "70000", nil, "uid 70000", "user"},
		{"image gid", "1000:70000", nil, "gid 70000", "user"},
		{"run_as_user", "", &runtime.LinuxContainerSecurityContext{RunAsUser: i64(65536)}, "uid 65536", "user"},
		{"supplemental group", "", &runtime.LinuxContainerSecurityContext{SupplementalGroups: []int64{99999}}, "gid 99999", "user"},
		{"mapped", "65535:65535", nil, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := containerInput()
			in.Sandbox.Linux.SecurityContext.NamespaceOptions.UsernsOptions = userns
			in.Image.Config.User = tt.user
			if tt.sc != nil {
				tt.sc.NamespaceOptions = in.Config.Linux.SecurityContext.NamespaceOptions
				in.Config.Linux.SecurityContext = tt.sc
			}
			_, err := ContainerSpec(in)
			if tt.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, tt.field)
			if !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("error %q does not name %s", err, tt.bad)
			}
		})
	}
	// Without a user namespace the same ids are fine.
	in := containerInput()
	in.Image.Config.User = "70000:70000"
	mustContainer(t, in)

	pod := podInput()
	pod.Config.Linux.SecurityContext.NamespaceOptions.UsernsOptions = userns
	pod.Config.Linux.SecurityContext.RunAsUser = i64(100000)
	_, err := PodSpec(pod)
	wantInvalid(t, err, "linux.security_context")
}

// crid reads an image's /etc/passwd and /etc/group for itself at CreateContainer: only a
// bounded regular file. A FIFO would block the request, a device or a huge file would
// stream into the daemon's memory.
func TestEtcFilesBounded(t *testing.T) {
	write := func(t *testing.T, data []byte) string {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	resolve := func(t *testing.T, dir string) error {
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		_, err = ResolveUser(LayerFS(root.FS()), "app", nil)
		return err
	}
	t.Run("huge passwd", func(t *testing.T) {
		line := []byte("u:x:5:5::/:/bin/sh\n")
		data := bytes.Repeat(line, maxEtcFile/len(line)+1)
		data = append(data, "app:x:1000:1000::/:/bin/sh\n"...)
		err := resolve(t, write(t, data))
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "etc/passwd") {
			t.Fatalf("got %v, want InvalidArgument naming /etc/passwd", err)
		}
	})
	t.Run("passwd at the cap", func(t *testing.T) {
		data := []byte("app:x:1000:1000::/:/bin/sh\n")
		comment := []byte("# " + strings.Repeat("x", 1000) + "\n")
		for len(data)+len(comment) <= maxEtcFile {
			data = append(data, comment...)
		}
		data = append(data, bytes.Repeat([]byte("\n"), maxEtcFile-len(data))...)
		if err := resolve(t, write(t, data)); err != nil {
			t.Fatalf("a %d-byte passwd: %v", len(data), err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		fifo := filepath.Join(dir, "etc/passwd")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- resolve(t, dir) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Minute): // a hang guard, not a speed check
		}
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			// Unblock a reader stuck on the FIFO so the test can end.
			if w, oerr := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); oerr == nil {
				w.Close()
			}
			t.Fatalf("got %v, want a refusal of the FIFO", err)
		}
	})
	t.Run("block device", func(t *testing.T) {
		if !testenv.Privileged() {
			t.Skip("mknod needs root")
		}
		// (A character device is an overlay whiteout: LayerFS already treats it as absent.)
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(filepath.Join(dir, "etc/passwd"), syscall.S_IFBLK|0o644, 7<<8); err != nil {
			t.Fatal(err)
		}
		if err := resolve(t, dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("got %v, want a refusal of the device", err)
		}
	})
}
