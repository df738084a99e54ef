package spec

import "testing"

func TestCgroupsPath(t *testing.T) {
	tests := []struct {
		driver       CgroupDriver
		parent, id   string
		want         string
		wantErrField string
	}{
		{CgroupfsDriver, "/kubepods/burstable/pod123", "abc", "/kubepods/burstable/pod123/abc", ""},
		{"", "/kubepods/", "abc", "/kubepods/abc", ""},
		{CgroupfsDriver, "", "abc", "/crid/abc", ""},
		{CgroupfsDriver, "/../../x", "abc", "/x/abc", ""},
		{CgroupfsDriver, "kubepods-burstable.slice", "abc", "", "linux.cgroup_parent"},
		{SystemdDriver, "kubepods-burstable-pod123.slice", "abc", "kubepods-burstable-pod123.slice:crid:abc", ""},
		{SystemdDriver, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice", "abc", "kubepods-burstable-pod123.slice:crid:abc", ""},
		{SystemdDriver, "", "abc", "system.slice:crid:abc", ""},
		{SystemdDriver, "/kubepods/burstable", "abc", "", "linux.cgroup_parent"},
		{SystemdDriver, "a.slice:b", "abc", "", "linux.cgroup_parent"},
		{CgroupfsDriver, "/k", "", "", "id"},
		{CgroupfsDriver, "/k", "../x", "", "id"},
		{SystemdDriver, "k.slice", "a:b", "", "id"},
		{"weird", "/k", "abc", "", "cgroup driver"},
	}
	for _, tt := range tests {
		t.Run(string(tt.driver)+" "+tt.parent+" "+tt.id, func(t *testing.T) {
			got, err := CgroupsPath(tt.driver, tt.parent, tt.id)
			if tt.wantErrField != "" {
				wantInvalid(t, err, tt.wantErrField)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("CgroupsPath(%q, %q, %q) = %q, %v; want %q", tt.driver, tt.parent, tt.id, got, err, tt.want)
			}
		})
	}
}

func TestCgroupsPathInSpecs(t *testing.T) {
	in := containerInput()
	in.Host.CgroupDriver = SystemdDriver
	in.Sandbox.Linux.CgroupParent = "kubepods-besteffort-poduid.slice"
	if got := mustContainer(t, in).Linux.CgroupsPath; got != "kubepods-besteffort-poduid.slice:crid:ctr1" {
		t.Fatalf("container: %q", got)
	}
	p := podInput()
	p.Host.DefaultCgroupParent = "/crid-pods"
	p.Config.Linux.CgroupParent = ""
	s, err := PodSpec(p)
	if err != nil || s.Linux.CgroupsPath != "/crid-pods/pod1" {
		t.Fatalf("pod: %v, %v", s, err)
	}
	// systemd without a parent: the pod's own slice, for the infra and each container.
	p.Host.CgroupDriver, p.Host.DefaultCgroupParent = SystemdDriver, ""
	if s, err := PodSpec(p); err != nil || s.Linux.CgroupsPath != "crid-podpod1.slice:crid:pod1" {
		t.Fatalf("systemd pod: %v, %v", s.Linux.CgroupsPath, err)
	}
	in.Sandbox.Linux.CgroupParent, in.SandboxID = "", "pod1"
	if got := mustContainer(t, in).Linux.CgroupsPath; got != "crid-podpod1.slice:crid:ctr1" {
		t.Fatalf("systemd container: %q", got)
	}
}
