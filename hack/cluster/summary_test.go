package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every skipped spec is printed with why: its skip-list reason, the reason it gave itself,
// or that its pass did not reach it; a spec run in a later report counts as run.
func TestSummarySaysWhySkipped(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	list := write("skip.txt", "# header\n\\[sig-node\\] Resize  # no cgroup v2 here\n")
	parallel := write("p.xml", `<testsuites><testsuite>
<testcase name="[sig-node] Resize it [Conformance]" status="skipped"><skipped message="skipped"/></testcase>
<testcase name="[sig-node] Cloud thing [Conformance]" status="skipped"><skipped message="skipped - Only supported for providers [gce]"/></testcase>
<testcase name="[sig-apps] Late [Conformance]" status="skipped"><skipped message="skipped"/></testcase>
<testcase name="[sig-apps] Serial one [Serial] [Conformance]" status="skipped"><skipped message="skipped"/></testcase>
<testcase name="[sig-apps] Works [Conformance]" status="passed"/>
<testcase name="[sig-apps] Breaks [Conformance]" status="failed"><failure message="x"/></testcase>
<testcase name="[sig-storage] Other [Conformance]" status="passed"/>
</testsuite></testsuites>`)
	serial := write("s.xml", `<testsuites><testsuite>
<testcase name="[sig-apps] Serial one [Serial] [Conformance]" status="passed"/>
</testsuite></testsuites>`)
	var out strings.Builder
	err := summary(&out, `\[sig-(node|apps)\].*\[Conformance\]`, list, []string{parallel, serial})
	if err == nil {
		t.Fatal("a failed spec: summary did not fail")
	}
	for _, want := range []string{
		"SKIPPED (skip list: no cgroup v2 here): [sig-node] Resize it",
		"SKIPPED (skipped itself: Only supported for providers [gce]): [sig-node] Cloud thing",
		"SKIPPED (not run: its pass ended first (TIMEOUT) or left it out (SERIAL=0)): [sig-apps] Late",
		"FAILED: [sig-apps] Breaks",
		"\n2 passed, 1 failed, 3 skipped\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary output lacks %q:\n%s", want, out.String())
		}
	}
}
