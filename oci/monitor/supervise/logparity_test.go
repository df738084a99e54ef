package supervise

import (
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLogLinesRandom: random output (short lines, long ones, bare newlines, pieces of
// every size around maxline) with a random partial line handed over becomes the CRI
// log entries server.LogStream writes for the same bytes, for maxlines down to 1.
func TestLogLinesRandom(t *testing.T) {
	rnd := rand.New(rand.NewSource(7)) //nolint:gosec // reproducible output, not secrets
	for _, maxLine := range []int{1, 2, 3, 7, 16} {
		pending := strings.Repeat("p", rnd.Intn(maxLine+1))
		var outs []string
		for i := 0; i < 40; i++ {
			var b strings.Builder
			for n := rnd.Intn(3 * maxLine); n > 0; n-- {
				b.WriteByte("ab\n"[rnd.Intn(3)])
			}
			outs = append(outs, b.String())
		}
		logPath := filepath.Join(t.TempDir(), "c.log")
		r, _ := newRig(t, rigOpts{ctrs: []launchCtr{{ID: "c", Log: logPath, MaxLine: maxLine, Pending: pending}}, subs: 1})
		for _, o := range outs {
			r.do("c", "out "+strconv.Quote(o))
		}
		r.do("c", "exit 0")
		r.frame(0)
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if _, rest, ok := strings.Cut(l, " "); ok {
				got = append(got, rest)
			}
		}
		want := goLog(t, "stdout", maxLine, append([]string{pending}, outs...))
		if strings.Join(got, "") != strings.Join(want, "") {
			t.Errorf("maxline %d, pending %q, writes %q: C logged\n%s\nserver.LogStream writes\n%s", maxLine, pending, outs, strings.Join(got, ""), strings.Join(want, ""))
		}
		r.connect()
	}
}
