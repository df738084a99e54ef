package apparmor

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDefaultProfileName: the name carries a hash of the text, the text
// carries the name (peer rules), and both are stable.
func TestDefaultProfileName(t *testing.T) {
	p := DefaultProfile()
	if !strings.HasPrefix(p.Name, DefaultName+"-") || len(p.Name) != len(DefaultName)+13 {
		t.Fatalf("name %q", p.Name)
	}
	if q := DefaultProfile(); q.Name != p.Name || !bytes.Equal(q.Text, p.Text) {
		t.Fatal("profile not stable")
	}
	for _, want := range []string{"profile " + p.Name + " ", "peer=" + p.Name + ",", "deny mount,", "signal (receive) peer=unconfined,"} {
		if !bytes.Contains(p.Text, []byte(want)) {
			t.Errorf("profile lacks %q", want)
		}
	}
	if bytes.Contains(p.Text, []byte("#include")) {
		t.Error("profile includes files a node may not have")
	}
}

// TestDefaultProfileCompiles runs apparmor_parser on the profile without
// loading it (hack/setup.sh installs the parser; the kernel needs no AppArmor).
func TestDefaultProfileCompiles(t *testing.T) {
	parser, err := ParserPath()
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(parser, "--skip-kernel-load", "--skip-cache", "--stdout")
	cmd.Stdin = bytes.NewReader(DefaultProfile().Text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("apparmor_parser: %v: %s", err, stderr.String())
	}
	if testing.Verbose() {
		os.Stdout.Write(DefaultProfile().Text)
	}
}

func TestListed(t *testing.T) {
	list := "cri-validate-apparmor-test-deny-write (enforce)\n/usr/bin/man (enforce)\nfoo bar (complain)\n" + DefaultName + "-0123 (enforce)\n"
	for name, want := range map[string]bool{
		"cri-validate-apparmor-test-deny-write": true, "/usr/bin/man": true, "foo bar": true,
		DefaultName + "-0123": true, DefaultName: false, "cri-validate": false, "enforce": false, "": false,
	} {
		if got, err := listed(strings.NewReader(list), name); err != nil || got != want {
			t.Errorf("listed(%q) = %v %v, want %v", name, got, err, want)
		}
	}
}
