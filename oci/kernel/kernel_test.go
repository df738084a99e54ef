package kernel

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// results: every probe passes but the ones named, which fail as an old
// kernel answers.
func results(release string, failing ...Probe) Results {
	r := Results{Release: release, Errs: map[Probe]error{}}
	for _, p := range AllProbes {
		r.Errs[p] = nil
	}
	for _, p := range failing {
		r.Errs[p] = unsupported(unix.EINVAL)
	}
	return r
}

// TestDecide: what each kernel of the supported range gets, from the
// probes that fail there.
func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name    string
		r       Results
		overlay OverlayMount
		idmap   IDMappedOverlay
		userns  bool
	}{
		{"6.18", results("6.18"), OverlayLowerdirPlus, IDMappedLayerFds, true},
		{"6.12 (no layer fds)", results("6.12", ProbeOverlayIDMapFds), OverlayLowerdirPlus, IDMappedLayerPaths, true},
		{"6.1 (no lowerdir+)", results("6.1", ProbeOverlayLowerdirPlus, ProbeOverlayIDMapFds), OverlayLowerdirString, IDMappedLayerPaths, true},
		{"5.15 (no overlay on idmapped layers)", results("5.15", ProbeOverlayLowerdirPlus, ProbeOverlayIDMapFds, ProbeOverlayIDMapPaths), OverlayLowerdirString, IDMappedNone, false},
		{"5.10 (no mount_setattr)", results("5.10", ProbeMountSetattr, ProbeIDMappedMounts, ProbeCloseRangeCloexec, ProbeOverlayLowerdirPlus, ProbeOverlayIDMapFds, ProbeOverlayIDMapPaths), OverlayLowerdirString, IDMappedNone, false},
		{"user namespaces off", results("6.18", ProbeUserNamespaces), OverlayLowerdirPlus, IDMappedNone, false},
		{"no overlay at all", results("6.18", ProbeOverlayLowerdirPlus, ProbeOverlayString), "", IDMappedLayerFds, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := Decide(c.r)
			if f.Overlay != c.overlay || f.IDMappedOverlay != c.idmap || f.UserNamespaces != c.userns {
				t.Errorf("got overlay %q idmapped %q userns %v, want %q %q %v", f.Overlay, f.IDMappedOverlay, f.UserNamespaces, c.overlay, c.idmap, c.userns)
			}
			// 5.10 is the floor: without mount_setattr and close_range's
			// CLOEXEC crid still runs containers (the fallbacks).
			if (f.Overlay == "") != (f.Usable() != nil) {
				t.Errorf("Usable() = %v with overlay %q, mount_setattr %v", f.Usable(), f.Overlay, f.MountSetattr)
			}
			if wantMS := c.r.Errs[ProbeMountSetattr] == nil; f.MountSetattr != wantMS || f.CloseRangeCloexec != (c.r.Errs[ProbeCloseRangeCloexec] == nil) {
				t.Errorf("mount_setattr %v close_range CLOEXEC %v", f.MountSetattr, f.CloseRangeCloexec)
			}
			for p, err := range c.r.Errs {
				why, missing := f.Missing[p]
				if (err != nil) != missing || (missing && why != err.Error()) {
					t.Errorf("probe %s: error %v, reported missing %v %q", p, err, missing, why)
				}
			}
		})
	}
}

// Below the floor: without openat2 (5.6) nothing is safe to mount.
func TestUsableNeedsOpenat2(t *testing.T) {
	f := Decide(results("5.4", ProbeOpenat2, ProbeMountSetattr, ProbeCloseRangeCloexec, ProbeOverlayLowerdirPlus))
	if err := f.Usable(); err == nil || !strings.Contains(err.Error(), "openat2") || !strings.Contains(err.Error(), "5.10") {
		t.Errorf("Usable() = %v", err)
	}
}

// The tests' way to an old kernel's fallbacks: named probes fail.
func TestDisable(t *testing.T) {
	r := results("6.18")
	disable(r, " mount_setattr,close_range ,open_tree")
	f := Decide(r)
	if f.MountSetattr || f.CloseRangeCloexec || !errors.Is(r.Errs[ProbeOpenTree], ErrUnsupported) || r.Errs[ProbeOpenat2] != nil {
		t.Errorf("%+v", f)
	}
	if !strings.Contains(f.Missing[ProbeMountSetattr], WithoutEnv) {
		t.Errorf("missing: %v", f.Missing)
	}
}

// TestDecideNotProbed: probes never run (no user namespace could be made)
// count as missing, never as working.
func TestDecideNotProbed(t *testing.T) {
	r := results("6.18")
	delete(r.Errs, ProbeOverlayIDMapFds)
	delete(r.Errs, ProbeOverlayIDMapPaths)
	f := Decide(r)
	if f.UserNamespaces || f.IDMappedOverlay != IDMappedNone {
		t.Fatalf("%+v", f)
	}
	if !strings.Contains(f.Missing[ProbeOverlayIDMapFds], "not probed") {
		t.Errorf("missing: %v", f.Missing)
	}
}

func TestUnsupported(t *testing.T) {
	for _, e := range []error{unix.ENOSYS, unix.EINVAL, unix.E2BIG} {
		if err := unsupported(e); !strings.Contains(err.Error(), ErrUnsupported.Error()) {
			t.Errorf("%v: %v", e, err)
		}
	}
	if err := unsupported(unix.EPERM); !errors.Is(err, unix.EPERM) {
		t.Errorf("EPERM became %v", err)
	}
	if unsupported(nil) != nil {
		t.Error("nil became an error")
	}
}
