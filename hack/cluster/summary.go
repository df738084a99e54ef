package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// junitSuites is the part of ginkgo's JUnit report that summary reads.
type junitSuites struct {
	Suites []struct {
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Status  string    `xml:"status,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// summary prints the outcome of the specs matching focus over ginkgo JUnit reports (a spec
// skipped in one run and run in another counts as run), the failed ones by name, each
// skipped one with why (its skip-list entry's reason, the reason the spec gave when it
// skipped itself, or not run: the pass's time ran out first), and the line "N passed,
// N failed, N skipped". It fails when a spec failed.
func summary(w io.Writer, focus, skipList string, reports []string) error {
	re, err := regexp.Compile(focus)
	if err != nil {
		return fmt.Errorf("--focus: %w", err)
	}
	listed, err := readSkipList(skipList)
	if err != nil {
		return err
	}
	outcome := map[string]string{}
	skipMsg := map[string]string{}
	for _, path := range reports {
		b, err := os.ReadFile(path) //nolint:gosec // reports named on the command line
		if err != nil {
			return err
		}
		var r junitSuites
		if err := xml.Unmarshal(b, &r); err != nil { //nolint:gosec // ginkgo's report of our own run, into a fixed struct
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, s := range r.Suites {
			for _, tc := range s.Cases {
				if !re.MatchString(tc.Name) {
					continue
				}
				o := "passed"
				switch {
				case tc.Failure != nil || tc.Error != nil:
					o = "failed"
				case tc.Skipped != nil || tc.Status == "skipped" || tc.Status == "pending":
					o = "skipped"
				}
				if prev, ok := outcome[tc.Name]; !ok || prev == "skipped" {
					outcome[tc.Name] = o
					if o == "skipped" && tc.Skipped != nil {
						skipMsg[tc.Name] = tc.Skipped.Message
					}
				}
			}
		}
	}
	count := map[string]int{}
	var failed, skipped []string
	why := map[string]int{}
	for name, o := range outcome {
		count[o]++
		switch o {
		case "failed":
			failed = append(failed, name)
		case "skipped":
			reason := skipReason(name, skipMsg[name], listed)
			why[reason]++
			skipped = append(skipped, fmt.Sprintf("SKIPPED (%s): %s", reason, name))
		}
	}
	sort.Strings(failed)
	sort.Strings(skipped)
	for _, s := range skipped {
		fmt.Fprintln(w, s)
	}
	for _, f := range failed {
		fmt.Fprintln(w, "FAILED:", f)
	}
	reasons := make([]string, 0, len(why))
	for r, n := range why {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		fmt.Fprintf(w, "skipped: %s\n", strings.Join(reasons, "; "))
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", count["passed"], count["failed"], count["skipped"])
	if len(failed) > 0 {
		return fmt.Errorf("%d specs failed", len(failed))
	}
	return nil
}

// skipEntry is a line of the skip list: a regex over full spec names and its reason.
type skipEntry struct {
	re     *regexp.Regexp
	reason string
}

// readSkipList reads hack/cluster/conformance-skip.txt's format: "REGEX  # reason" per
// line, "#" lines and blank ones ignored. No path: no list.
func readSkipList(path string) ([]skipEntry, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path) //nolint:gosec // the list named on the command line
	if err != nil {
		return nil, err
	}
	var list []skipEntry
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pat, reason, _ := strings.Cut(line, "  # ")
		re, err := regexp.Compile(strings.TrimSpace(pat))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		list = append(list, skipEntry{re, strings.TrimSpace(reason)})
	}
	return list, nil
}

// skipReason says why a spec did not run: the skip list's entry, the reason it gave when it
// skipped itself (ginkgo's "skipped - <reason>"), or that its pass ended before it.
func skipReason(name, msg string, list []skipEntry) string {
	for _, e := range list {
		if e.re.MatchString(name) {
			return "skip list: " + e.reason
		}
	}
	if r, ok := strings.CutPrefix(msg, "skipped - "); ok {
		return "skipped itself: " + strings.TrimSpace(r)
	}
	return "not run: its pass ended first (TIMEOUT) or left it out (SERIAL=0)"
}
