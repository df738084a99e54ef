package testimages

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestBusyboxDeterministicAndServed(t *testing.T) {
	a, err := busyboxImage(DynamicBusybox, Gzip, busyboxCfg())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("not deterministic: %s vs %s", da, db)
	}
	cf, _ := b.ConfigFile()
	if len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" {
		t.Errorf("cmd %v", cf.Config.Cmd)
	}
	for _, auth := range []string{"", "basic", "bearer"} {
		var opts []Option
		switch auth {
		case "basic":
			opts = append(opts, WithBasicAuth("u", "p"))
		case "bearer":
			opts = append(opts, WithBearerAuth("u", "p"))
		}
		reg, err := NewRegistry(opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		if _, err := reg.Push("library/busybox:latest", b); err != nil {
			t.Fatalf("%s: %v", auth, err)
		}
		ref, _ := name.ParseReference(reg.Ref("library/busybox:latest"), name.Insecure)
		if auth != "" {
			if _, err := remote.Get(ref); err == nil {
				t.Errorf("%s: anonymous get succeeded", auth)
			}
		}
		if _, err := remote.Get(ref, remote.WithAuth(&authn.Basic{Username: "u", Password: "p"})); err != nil {
			t.Errorf("%s: %v", auth, err)
		}
	}
}
