package oci

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A bind remount replaces all of a mount's flags: the fallback keeps those
// not named, as mount_setattr does.
func TestRemountFlags(t *testing.T) {
	for _, c := range []struct {
		name     string
		cur      int64
		set, clr uint64
		want     uintptr
	}{
		{"ro on a nosuid relatime mount", stNosuid | stRelatime, unix.MOUNT_ATTR_RDONLY, 0, unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_RELATIME},
		{"rw clears ro, keeps nodev", stRdonly | stNodev | stRelatime, 0, unix.MOUNT_ATTR_RDONLY, unix.MS_NODEV | unix.MS_RELATIME},
		{"noatime replaces relatime", stRelatime, unix.MOUNT_ATTR_NOATIME, 0, unix.MS_NOATIME},
		{"strictatime replaces noatime", stNoatime, unix.MOUNT_ATTR_STRICTATIME, 0, unix.MS_STRICTATIME},
		{"strictatime kept", 0, unix.MOUNT_ATTR_NOEXEC, 0, unix.MS_NOEXEC | unix.MS_STRICTATIME},
		{"noatime kept", stNoatime | stNosymfollow, unix.MOUNT_ATTR_NODIRATIME, 0, unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_NOSYMFOLLOW},
	} {
		if got := remountFlags(c.cur, c.set, c.clr); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
}
