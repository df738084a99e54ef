package bootid

import "testing"

// TestThisBoot: a record of this boot or of none is this boot's, one of another boot is not.
func TestThisBoot(t *testing.T) {
	if ID() == "" {
		t.Skip("no boot id on this kernel")
	}
	if len(ID()) != 36 {
		t.Errorf("boot id %q, want a UUID", ID())
	}
	for boot, want := range map[string]bool{ID(): true, "": true, "00000000-0000-0000-0000-000000000000": false} {
		if ThisBoot(boot) != want {
			t.Errorf("ThisBoot(%q) = %v, want %v", boot, !want, want)
		}
	}
}
