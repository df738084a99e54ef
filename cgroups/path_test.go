package cgroups

import "testing"

func TestParsePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/kubepods/pod123/abc": "/kubepods/pod123/abc",
		"kubepods/pod123/abc":  "/kubepods/pod123/abc",
		"/a/../b":              "/b",
		"/a//b/":               "/a/b",
		"a:b":                  "/a:b",
		"kubepods-besteffort-pod12.slice:cri-containerd:abc": "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope",
		"system.slice:crid:x":                                "/system.slice/crid-x.scope",
		":crid:x":                                            "/system.slice/crid-x.scope",
		"kubepods.slice:crid:pod-1.slice":                    "/kubepods.slice/pod-1.slice",
		"kubepods-burstable-pod1.slice":                      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
	} {
		t.Run(in, func(t *testing.T) {
			got, err := ParsePath(in)
			if err != nil || got != want {
				t.Errorf("ParsePath(%q) = %q, %v; want %q", in, got, err, want)
			}
		})
	}
	for _, bad := range []string{"", "/", "/.."} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
}

// TestParsePathCleanNoCopy: the stats path parses each running container's cgroupsPath
// every sampler pass; an absolute clean one (cgroupfs driver) comes back as it is. Not
// parallel: AllocsPerRun.
func TestParsePathCleanNoCopy(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = ParsePath("/kubepods/burstable/pod1/crid-abc") }); n != 0 {
		t.Errorf("ParsePath of a clean absolute path allocates %.0f times, want 0", n)
	}
}

// TestZeroTreeRefused: a Tree nobody filled in would resolve every cgroup
// relative to the working directory.
func TestZeroTreeRefused(t *testing.T) {
	t.Parallel()
	var zero Tree
	if _, err := zero.New("/x", nil); err == nil {
		t.Error("New on a zero Tree")
	}
	if _, err := zero.Load("/x"); err == nil {
		t.Error("Load on a zero Tree")
	}
	if err := zero.Destroy("/x"); err == nil {
		t.Error("Destroy on a zero Tree")
	}
	if _, err := zero.OOMKills("/x"); err == nil {
		t.Error("OOMKills on a zero Tree")
	}
}
