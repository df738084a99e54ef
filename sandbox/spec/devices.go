package spec

import (
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// defaultDevices are created in every container's /dev: what programs
// assume exists. The executor makes them (or bind mounts the host's under a
// user namespace).
// A function, not a variable: specs must not share the pointer fields.
func defaultDevices() []specs.LinuxDevice {
	return []specs.LinuxDevice{
		charDevice("/dev/null", 1, 3),
		charDevice("/dev/zero", 1, 5),
		charDevice("/dev/full", 1, 7),
		charDevice("/dev/random", 1, 8),
		charDevice("/dev/urandom", 1, 9),
		charDevice("/dev/tty", 5, 0),
	}
}

func charDevice(p string, major, minor int64) specs.LinuxDevice {
	return specs.LinuxDevice{Path: p, Type: "c", Major: major, Minor: minor, FileMode: ptr(os.FileMode(0o666)), UID: ptr(uint32(0)), GID: ptr(uint32(0))}
}

// defaultDeviceRules: deny all, then allow mknod of anything (the node is
// useless without access) and use of the default devices, /dev/console,
// ptys and /dev/net/tun.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	allow := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			r.Major = ptr(major)
		}
		if minor >= 0 {
			r.Minor = ptr(minor)
		}
		return r
	}
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		allow("c", -1, -1, "m"),
		allow("b", -1, -1, "m"),
	}
	for _, d := range defaultDevices() {
		rules = append(rules, allow(d.Type, d.Major, d.Minor, "rwm"))
	}
	return append(rules,
		allow("c", 5, 1, "rwm"),    // /dev/console
		allow("c", 5, 2, "rwm"),    // /dev/ptmx
		allow("c", 136, -1, "rwm"), // /dev/pts/*
		allow("c", 10, 200, "rwm"), // /dev/net/tun
	)
}

// devices returns the container's devices and device cgroup rules.
// Privileged containers get every host device and no restriction, unless
// hostDevices is false (privileged_without_host_devices): then they get what
// an unprivileged container gets.
func devices(h Host, req []*runtime.Device, privileged, hostDevices bool) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	var (
		devs  []specs.LinuxDevice
		rules []specs.LinuxDeviceCgroup
	)
	privileged = privileged && hostDevices
	if privileged {
		rules = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		if h.HostDevices != nil {
			host, err := h.HostDevices()
			if err != nil {
				return nil, nil, fmt.Errorf("list host devices: %w", err)
			}
			devs = append(devs, host...)
		}
	} else {
		rules = defaultDeviceRules()
		devs = append(devs, defaultDevices()...)
	}
	for i, d := range req {
		f := fmt.Sprintf("devices[%d]", i)
		got, access, err := requestedDevice(h, d, f)
		if err != nil {
			return nil, nil, err
		}
		for _, g := range got {
			devs = replaceDevice(devs, g)
			if !privileged {
				rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: g.Type, Major: ptr(g.Major), Minor: ptr(g.Minor), Access: access})
			}
		}
	}
	return devs, rules, nil
}

// requestedDevice resolves one CRI device through Host.DeviceInfo; a
// directory maps each device below host_path to the same place below
// container_path.
func requestedDevice(h Host, d *runtime.Device, f string) ([]specs.LinuxDevice, string, error) {
	if d == nil {
		return nil, "", invalidf(f, "missing")
	}
	dst, err := containerPath(d.GetContainerPath(), f+".container_path")
	if err != nil {
		return nil, "", err
	}
	src := d.GetHostPath()
	if !path.IsAbs(src) || path.Clean(src) == "/" {
		return nil, "", invalidf(f+".host_path", "%q must be an absolute path below /", src)
	}
	src = path.Clean(src)
	access := d.GetPermissions()
	if access == "" {
		access = "rwm"
	}
	if strings.Trim(access, "rwm") != "" {
		return nil, "", invalidf(f+".permissions", "%q is not a combination of r, w and m", access)
	}
	if h.DeviceInfo == nil {
		return nil, "", invalidf(f, "no Host.DeviceInfo to resolve %q", src)
	}
	found, err := h.DeviceInfo(src)
	if err != nil {
		return nil, "", fmt.Errorf("%s.host_path %q: %w", f, src, err)
	}
	if len(found) == 0 {
		return nil, "", invalidf(f+".host_path", "%q holds no device", src)
	}
	out := make([]specs.LinuxDevice, 0, len(found))
	for _, g := range found {
		if g.Type != "c" && g.Type != "b" && g.Type != "u" && g.Type != "p" {
			return nil, "", invalidf(f+".host_path", "%q is not a device (type %q)", g.Path, g.Type)
		}
		hp := path.Clean(g.Path)
		if !under(hp, src) {
			return nil, "", invalidf(f+".host_path", "device %q is not below %q", g.Path, src)
		}
		g.Path = dst + strings.TrimPrefix(hp, src)
		out = append(out, g)
	}
	return out, access, nil
}

// replaceDevice adds d, replacing a device at the same container path.
func replaceDevice(devs []specs.LinuxDevice, d specs.LinuxDevice) []specs.LinuxDevice {
	for i := range devs {
		if devs[i].Path == d.Path {
			devs[i] = d
			return devs
		}
	}
	return append(devs, d)
}
