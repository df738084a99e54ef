package api

import "testing"

func TestAdoptionMessage(t *testing.T) {
	id, dir, err := ParseAdoption(AdoptionMessage("pod1", "/run/crid/pods/pod1"))
	if err != nil || id != "pod1" || dir != "/run/crid/pods/pod1" {
		t.Fatalf("round trip: %q %q %v", id, dir, err)
	}
	for _, bad := range []string{"", "pod1", "pod1\x00relative", "\x00/abs", "a/b\x00/abs", "pod1\x00/a\x00b", "..\x00/abs"} {
		if _, _, err := ParseAdoption([]byte(bad)); err == nil {
			t.Errorf("ParseAdoption(%q) took it", bad)
		}
	}
}
