package oci

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A sysctl write the kernel does not take whole fails the create: "4000 junk"
// would set kernel.shmmni to 4000 and drop the rest unnoticed, an empty value
// would set nothing, "abc" is refused by the kernel outright, and a key the kernel
// does not have is nothing to write. Each is the spec's fault (ErrInvalidSpec).
func TestSysctlNotTakenWholeFailsCreate(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct{ name, key, value string }{
		{"partly taken", "kernel.shmmni", "4000 junk"},
		{"empty", "kernel.shmmni", ""},
		{"refused", "kernel.shmmni", "abc"},
		{"unknown key", "kernel.crid_no_such_sysctl", "1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec, rootfs := testSpec(t, "true")
			spec.Linux.Sysctl = map[string]string{c.key: c.value}
			_, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs})
			if err == nil || !strings.Contains(err.Error(), "sysctl "+c.key) || !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("create with %s=%q: %v, want a sysctl error of the spec", c.key, c.value, err)
			}
			p, _ := cgPath(spec)
			if d := hostTree.Dirs(p); len(d) != 0 {
				t.Fatalf("cgroups left after a failed create: %v", d)
			}
		})
	}
}
