package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"regexp"
	"sort"
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
// skipped in one run and run in another counts as run), the failed ones by name, and the
// line "N passed, N failed, N skipped". It fails when a spec failed.
func summary(focus string, reports []string) error {
	re, err := regexp.Compile(focus)
	if err != nil {
		return fmt.Errorf("--focus: %w", err)
	}
	outcome := map[string]string{}
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
				}
			}
		}
	}
	count := map[string]int{}
	var failed []string
	for name, o := range outcome {
		count[o]++
		if o == "failed" {
			failed = append(failed, name)
		}
	}
	sort.Strings(failed)
	for _, f := range failed {
		fmt.Println("FAILED:", f)
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", count["passed"], count["failed"], count["skipped"])
	if len(failed) > 0 {
		return fmt.Errorf("%d specs failed", len(failed))
	}
	return nil
}
