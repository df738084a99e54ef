package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/crid-dev/crid/errdefs"
)

func TestNormalizeRef(t *testing.T) {
	d := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for in, want := range map[string]string{
		"busybox":                       "docker.io/library/busybox:latest",
		"busybox:1.36":                  "docker.io/library/busybox:1.36",
		"docker.io/busybox":             "docker.io/library/busybox:latest",
		"index.docker.io/library/x:1":   "docker.io/library/x:1",
		"user/app":                      "docker.io/user/app:latest",
		"localhost:5000/x":              "localhost:5000/x:latest",
		"127.0.0.1:5000/a/b:c":          "127.0.0.1:5000/a/b:c",
		"registry.k8s.io/pause:3.10":    "registry.k8s.io/pause:3.10",
		"busybox@" + d:                  "docker.io/library/busybox@" + d,
		"busybox:1.0@" + d:              "docker.io/library/busybox@" + d,
		"localhost:5000/x:tag@" + d:     "localhost:5000/x@" + d,
		"quay.io/org/repo/sub:v1.2_3-a": "quay.io/org/repo/sub:v1.2_3-a",
	} {
		got, err := NormalizeRef(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", " busybox", "BusyBox", "busybox@sha256:abc", "a:b:c", "busybox:", "-x",
		// 250 characters are a valid name alone, not once "docker.io/library/" makes it 268.
		strings.Repeat("a", 250)} {
		if _, err := NormalizeRef(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("NormalizeRef(%q): want ErrInvalidArgument, got %v", bad, err)
		}
	}
}
