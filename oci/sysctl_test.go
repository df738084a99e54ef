package oci

import (
	"context"
	"strings"
	"testing"
)

// A sysctl write the kernel does not take whole fails the create: "4000 junk"
// would set kernel.shmmni to 4000 and drop the rest unnoticed, an empty value
// would set nothing, "abc" is refused by the kernel outright.
func TestSysctlNotTakenWholeFailsCreate(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct{ name, value string }{
		{"partly taken", "4000 junk"},
		{"empty", ""},
		{"refused", "abc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec, rootfs := testSpec(t, "true")
			spec.Linux.Sysctl = map[string]string{"kernel.shmmni": c.value}
			_, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs})
			if err == nil || !strings.Contains(err.Error(), "sysctl kernel.shmmni") {
				t.Fatalf("create with kernel.shmmni=%q: %v, want a sysctl error", c.value, err)
			}
			p, _ := cgPath(spec)
			if d := hostTree.Dirs(p); len(d) != 0 {
				t.Fatalf("cgroups left after a failed create: %v", d)
			}
		})
	}
}
