package oci

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Pure logic: no root needed.

func TestParseMountOptions(t *testing.T) {
	o := parseMountOptions([]string{"rbind", "ro", "nosuid", "rro", "rslave", "size=10m", "mode=755", "noatime"})
	want := mountOpts{bind: true, recursive: true,
		attrSet:  unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOATIME,
		rattrSet: unix.MOUNT_ATTR_RDONLY, propagation: unix.MS_SLAVE, recPropagation: true,
		data: []string{"size=10m", "mode=755"}, flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NOATIME}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
	for _, c := range []struct {
		name string
		opts []string
		want mountOpts
	}{
		{"private", []string{"private"}, mountOpts{propagation: unix.MS_PRIVATE}},
		{"last propagation wins", []string{"rshared", "runbindable"}, mountOpts{propagation: unix.MS_UNBINDABLE, recPropagation: true}},
		{"rw clears", []string{"rw", "nodev"}, mountOpts{attrClr: unix.MOUNT_ATTR_RDONLY, attrSet: unix.MOUNT_ATTR_NODEV, flags: unix.MS_NODEV}},
		{"bind after rbind stays recursive", []string{"rbind", "bind"}, mountOpts{bind: true, recursive: true}},
		{"defaults and idmap mean nothing here", []string{"defaults", "relatime", "idmap"}, mountOpts{}},
		{"unknown is filesystem data", []string{"lowerdir=/a:/b", "xino=off"}, mountOpts{data: []string{"lowerdir=/a:/b", "xino=off"}}},
		{"recursive attributes", []string{"rro", "rnosuid", "rnodev", "rnoexec"},
			mountOpts{rattrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := parseMountOptions(c.opts); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	if !isBindMount(specs.Mount{Type: "bind"}) || isBindMount(specs.Mount{Type: "tmpfs"}) {
		t.Fatal("isBindMount")
	}
}

func TestRootPropagation(t *testing.T) {
	for in, want := range map[string]struct {
		before uintptr
		after  string
	}{
		"":        {unix.MS_REC | unix.MS_PRIVATE, ""},
		"rslave":  {unix.MS_REC | unix.MS_SLAVE, "rslave"},
		"rshared": {0, "rshared"}, // stays peers with the host
	} {
		b, a, err := rootPropagation(in)
		if err != nil || b != want.before || a != want.after {
			t.Errorf("rootPropagation(%q) = %x %q %v", in, b, a, err)
		}
	}
	if _, _, err := rootPropagation("bogus"); err == nil {
		t.Error("bogus propagation accepted")
	}
}

func TestCapMask(t *testing.T) {
	m, err := capMask([]string{"CAP_CHOWN", "cap_kill", "CAP_CHECKPOINT_RESTORE"}, 39)
	if err != nil || m != 1<<0|1<<5 {
		t.Fatalf("capMask = %x, %v", m, err)
	}
	if _, err := capMask([]string{"CAP_NOPE"}, 40); err == nil {
		t.Fatal("unknown capability accepted")
	}
}

func TestPlanNamespaces(t *testing.T) {
	p, err := planNamespaces(&specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/run/netns/x"},
		{Type: specs.UserNamespace, Path: "/proc/1/ns/user"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.newMask != unix.CLONE_NEWNS|unix.CLONE_NEWPID || !p.joins(unix.CLONE_NEWUSER) || p.joinEnv() != "net:/run/netns/x,user:/proc/1/ns/user" {
		t.Fatalf("plan %+v env %q", p, p.joinEnv())
	}
	if _, err := planNamespaces(&specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "time"}, {Type: "time"}}}}); err == nil {
		t.Fatal("bad namespaces accepted")
	}
}

func TestCommonDir(t *testing.T) {
	for _, c := range [][3]string{
		{"/a/b/upper", "/a/b/work", "/a/b"},
		{"/a/b/c/upper", "/a/d/work", "/a"},
		{"/x/upper", "/y/work", "/"},
	} {
		if got := commonDir(c[0], c[1]); got != c[2] {
			t.Errorf("commonDir(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestPlanDev(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fileMode(0o600)}, // overrides the default
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
	}}}
	p := planDev(spec, true, map[string]bool{"/dev/shm": true}, false)
	if len(p.mounts) != 1 || p.mounts[0].Destination != "/dev/pts" || strings.Contains(strings.Join(p.mounts[0].Options, ","), "gid=5") {
		t.Fatalf("mounts %+v", p.mounts)
	}
	var paths []string
	for _, d := range p.devices {
		paths = append(paths, d.Path)
	}
	want := []string{"/dev/null", "/dev/fuse", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
	if !reflect.DeepEqual(paths, want) || *p.devices[0].FileMode != 0o600 {
		t.Fatalf("devices %v", paths)
	}
	if len(p.links) != 5 || p.links[4] != [2]string{"pts/ptmx", "ptmx"} {
		t.Fatalf("links %v", p.links)
	}
	if p := planDev(spec, false, map[string]bool{}, true); len(p.mounts) != 2 || len(p.links) != 6 {
		t.Fatalf("plan without spec mounts: %+v", p)
	}
}
