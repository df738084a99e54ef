package main

import (
	"fmt"
	"os"

	"github.com/crid-dev/crid/hack/testimages"
)

// serveBenchImage starts an in-process registry on 127.0.0.1 holding the bench image and
// returns its reference. Building the image (200 MiB of seeded random data, gzip) takes a
// few seconds; it is the same bytes in every run.
func serveBenchImage() (ref string, stop func(), err error) {
	fmt.Fprintln(os.Stderr, "bench: building the 200 MiB pull image (hack/testimages Bench)")
	img, err := testimages.Bench()
	if err != nil {
		return "", nil, err
	}
	r, err := testimages.NewRegistry()
	if err != nil {
		return "", nil, err
	}
	if _, err := r.Push("crid-bench/large:1", img); err != nil {
		r.Close()
		return "", nil, err
	}
	return r.Ref("crid-bench/large:1"), r.Close, nil
}
