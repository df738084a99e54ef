package spec

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/crid-dev/crid/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Bad input is an error, never a panic, and always InvalidArgument.
func FuzzParseSeccompProfile(f *testing.F) {
	f.Add([]byte(dockerProfile))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"op":"SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseSeccompProfile(data, []string{"CAP_SYS_ADMIN"}, "amd64"); err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("error of the wrong kind: %v", err)
		}
	})
}

func FuzzResolveUser(f *testing.F) {
	for _, s := range []string{"", "app", "1000:1000", "app:staff", ":", "a:b:c", "4294967296", "-1"} {
		f.Add(s, []byte("root:x:0:0::/root:/bin/sh\n"), []byte("root:x:0:root\n"))
	}
	f.Fuzz(func(t *testing.T, user string, passwd, group []byte) {
		etc := fstest.MapFS{"etc/passwd": {Data: passwd}, "etc/group": {Data: group}}
		u, err := ResolveUser(etc, user, nil)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if len(u.AdditionalGids) == 0 || u.AdditionalGids[0] != u.GID || u.Home == "" {
			t.Fatalf("bad user %+v", *u)
		}
	})
}

// Nil elements anywhere in the request's lists are InvalidArgument.
func TestNilListElements(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*ContainerInput)
	}{
		{"envs[0].key", func(in *ContainerInput) { in.Config.Envs = []*runtime.KeyValue{nil} }},
		{"mounts[0]", func(in *ContainerInput) { in.Config.Mounts = []*runtime.Mount{nil} }},
		{"devices[0]", func(in *ContainerInput) { in.Config.Devices = []*runtime.Device{nil} }},
		{"hugepage_limits[0].page_size", func(in *ContainerInput) {
			in.Config.Linux.Resources = &runtime.LinuxContainerResources{HugepageLimits: []*runtime.HugepageLimit{nil}}
		}},
		{"userns_options.uids[0].length", func(in *ContainerInput) {
			in.Sandbox.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtime.UserNamespace{
				Mode: runtime.NamespaceMode_POD, Uids: []*runtime.IDMapping{nil}, Gids: []*runtime.IDMapping{nil}}
		}},
	}
	for _, tt := range tests {
		in := containerInput()
		tt.mod(&in)
		_, err := ContainerSpec(in)
		wantInvalid(t, err, tt.field)
	}
}
