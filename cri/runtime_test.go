package cri

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/config"
)

// semver is semver.org's grammar with the "v" kubelet also accepts: kubelet parses
// VersionResponse.RuntimeVersion with it and shows anything else as "crid://Unknown".
var semver = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

func TestVersionReportsTheBuild(t *testing.T) {
	const build = "v0.0.0-20261207032855-b780c1cc4ae6+dirty"
	resp, err := NewServer(Deps{Version: build}).Version(context.Background(), &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RuntimeName != "crid" || resp.RuntimeVersion != build || resp.RuntimeApiVersion != "v1" || resp.Version != "0.1.0" {
		t.Fatalf("Version = %+v, want crid %s, CRI v1, kubelet API 0.1.0", resp, build)
	}
}

// The versions a build can carry are semantic: the unstamped default, and what
// hack/version.sh (the Makefile's stamp) prints for this checkout.
func TestBuildVersionsAreSemantic(t *testing.T) {
	for _, v := range []string{config.Version, "v0.0.0-dev", "v1.2.3", "v0.0.0-20261207032855-b780c1cc4ae6+dirty"} {
		if !semver.MatchString(v) {
			t.Errorf("%q is not a semantic version", v)
		}
	}
	for _, v := range []string{"b780c1c-dirty", "dev", "Unknown"} {
		if semver.MatchString(v) {
			t.Errorf("%q taken for a semantic version", v)
		}
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git: hack/version.sh prints v0.0.0-dev, checked above")
	}
	out, err := exec.Command("sh", "../hack/version.sh").Output()
	if err != nil {
		t.Fatalf("hack/version.sh: %v", err)
	}
	if v := strings.TrimSpace(string(out)); !semver.MatchString(v) {
		t.Fatalf("hack/version.sh printed %q, not a semantic version", v)
	}
}
