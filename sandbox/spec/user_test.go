package spec

import (
	"errors"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestResolveUser(t *testing.T) {
	i64 := func(v int64) *runtime.Int64Value { return &runtime.Int64Value{Value: v} }
	tests := []struct {
		name      string
		etc       fs.FS
		imageUser string
		sc        *runtime.LinuxContainerSecurityContext
		want      User
		wantErr   string // field the InvalidArgument must name
	}{
		{name: "no user is root", want: User{UID: 0, GID: 0, Name: "root", Home: "/root", AdditionalGids: []uint32{0}}},
		{name: "nil etc, no user", etc: fstest.MapFS{}, want: User{Home: "/", AdditionalGids: []uint32{0}}},
		{name: "image uid in passwd", imageUser: "1000", want: User{UID: 1000, GID: 1000, Name: "app", Home: "/home/app", AdditionalGids: []uint32{1000, 29, 44}}},
		{name: "image uid not in passwd", imageUser: "4242", want: User{UID: 4242, GID: 0, Home: "/", AdditionalGids: []uint32{0}}},
		{name: "image uid:gid", imageUser: "4242:77", want: User{UID: 4242, GID: 77, Home: "/", AdditionalGids: []uint32{77}}},
		{name: "image name", imageUser: "app", want: User{UID: 1000, GID: 1000, Name: "app", Home: "/home/app", AdditionalGids: []uint32{1000, 29, 44}}},
		{name: "image name:group", imageUser: "app:staff", want: User{UID: 1000, GID: 50, Name: "app", Home: "/home/app", AdditionalGids: []uint32{50, 29, 44}}},
		{name: "image uid:group", imageUser: "1:audio", want: User{UID: 1, GID: 29, Name: "daemon", Home: "/usr/sbin", AdditionalGids: []uint32{29}}},
		{name: "empty home is /", imageUser: "nohome", want: User{UID: 1001, GID: 1001, Name: "nohome", Home: "/", AdditionalGids: []uint32{1001}}},
		{name: "unknown image name", imageUser: "ghost", wantErr: "image config User"},
		{name: "unknown image group", imageUser: "app:ghosts", wantErr: "image config User"},
		{name: "image name without passwd", etc: fstest.MapFS{}, imageUser: "app", wantErr: "image config User"},
		{name: "image group without user", imageUser: ":50", wantErr: "image config User"},
		{name: "image uid too big", imageUser: "4294967295", wantErr: "image config User"},
		{
			name: "run_as_user overrides image", imageUser: "app",
			sc:   &runtime.LinuxContainerSecurityContext{RunAsUser: i64(1)},
			want: User{UID: 1, GID: 1, Name: "daemon", Home: "/usr/sbin", AdditionalGids: []uint32{1}},
		},
		{
			name: "run_as_user not in passwd gets gid 0", imageUser: "app",
			sc:   &runtime.LinuxContainerSecurityContext{RunAsUser: i64(5000)},
			want: User{UID: 5000, GID: 0, Home: "/", AdditionalGids: []uint32{0}},
		},
		{
			name: "run_as_group", sc: &runtime.LinuxContainerSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(3000)},
			want: User{UID: 1000, GID: 3000, Name: "app", Home: "/home/app", AdditionalGids: []uint32{3000, 29, 44}},
		},
		{
			name: "run_as_username", sc: &runtime.LinuxContainerSecurityContext{RunAsUsername: "app"},
			want: User{UID: 1000, GID: 1000, Name: "app", Home: "/home/app", AdditionalGids: []uint32{1000, 29, 44}},
		},
		{name: "run_as_username unknown", sc: &runtime.LinuxContainerSecurityContext{RunAsUsername: "ghost"}, wantErr: "run_as_username"},
		{name: "run_as_user and username", sc: &runtime.LinuxContainerSecurityContext{RunAsUser: i64(1), RunAsUsername: "app"}, wantErr: "run_as_username"},
		{name: "run_as_group alone", imageUser: "app", sc: &runtime.LinuxContainerSecurityContext{RunAsGroup: i64(5)}, wantErr: "run_as_group"},
		{name: "negative run_as_user", sc: &runtime.LinuxContainerSecurityContext{RunAsUser: i64(-1)}, wantErr: "run_as_user"},
		{name: "negative run_as_group", sc: &runtime.LinuxContainerSecurityContext{RunAsUser: i64(1), RunAsGroup: i64(-3)}, wantErr: "run_as_group"},
		{
			name: "merge adds supplemental groups", imageUser: "app",
			sc:   &runtime.LinuxContainerSecurityContext{SupplementalGroups: []int64{2000, 29}},
			want: User{UID: 1000, GID: 1000, Name: "app", Home: "/home/app", AdditionalGids: []uint32{1000, 29, 44, 2000}},
		},
		{
			name: "strict ignores /etc/group", imageUser: "app",
			sc: &runtime.LinuxContainerSecurityContext{
				SupplementalGroups:       []int64{2000},
				SupplementalGroupsPolicy: runtime.SupplementalGroupsPolicy_Strict,
			},
			want: User{UID: 1000, GID: 1000, Name: "app", Home: "/home/app", AdditionalGids: []uint32{1000, 2000}},
		},
		{name: "bad supplemental group", sc: &runtime.LinuxContainerSecurityContext{SupplementalGroups: []int64{1, -2}}, wantErr: "supplemental_groups[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			etc := tt.etc
			if etc == nil {
				etc = testEtc
			}
			got, err := ResolveUser(etc, tt.imageUser, tt.sc)
			if endsInError(t, err, tt.wantErr) {
				return
			}
			if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Name != tt.want.Name || got.Home != tt.want.Home ||
				!slices.Equal(got.AdditionalGids, tt.want.AdditionalGids) {
				t.Fatalf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestResolveUserNilFS(t *testing.T) {
	u, err := ResolveUser(nil, "123:45", nil)
	if err != nil || u.UID != 123 || u.GID != 45 {
		t.Fatalf("got %+v, %v", u, err)
	}
	if _, err := ResolveUser(nil, "app", nil); err == nil {
		t.Fatal("a name cannot resolve without /etc/passwd")
	}
}

// An unreadable passwd is an error, not silently "no users": running as
// root because a file could not be read would be wrong.
func TestResolveUserReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ResolveUser(errFS{boom}, "app", nil)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

type errFS struct{ err error }

func (e errFS) Open(string) (fs.File, error) { return nil, e.err }

func TestContainerUser(t *testing.T) {
	in := containerInput()
	in.Image.Config.User = "app"
	s := mustContainer(t, in)
	u := ContainerUser(s)
	if u.GetLinux().GetUid() != 1000 || u.GetLinux().GetGid() != 1000 || !slices.Equal(u.GetLinux().GetSupplementalGroups(), []int64{1000, 29, 44}) {
		t.Fatalf("got %v", u)
	}
	if ContainerUser(nil) != nil {
		t.Fatal("nil spec")
	}
}
