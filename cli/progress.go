package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// pullProgress draws a pull: on a terminal a line per layer redrawn in place (cursor up
// and erase, as docker does), otherwise plain lines once.
type pullProgress struct {
	w      io.Writer
	tty    bool
	ref    string
	layers []layerInfo
	start  time.Time
	frame  int
	drawn  int // lines drawn last time, to move the cursor back over
}

var spinner = []string{"|", "/", "-", "\\"}

func newPullProgress(w io.Writer, tty bool, ref string, layers []layerInfo) *pullProgress {
	p := &pullProgress{w: w, tty: tty, ref: ref, layers: layers, start: time.Now()}
	fmt.Fprintf(w, "Pulling %s\n", ref)
	if !tty {
		for _, l := range layers {
			fmt.Fprintf(w, "%s: Pulling fs layer (%s)\n", short(l.digest), units.HumanSize(float64(l.size)))
		}
		return p
	}
	p.redraw()
	return p
}

// bar is a bar that makes no claim it cannot back: a moving block, not a fill level,
// since no CRI runtime reports bytes.
func (p *pullProgress) bar() string {
	const width = 20
	pos := p.frame % (2 * (width - 4))
	if pos >= width-4 {
		pos = 2*(width-4) - pos
	}
	return "[" + strings.Repeat(" ", pos) + "====" + strings.Repeat(" ", width-4-pos) + "]"
}

func (p *pullProgress) redraw() {
	if !p.tty {
		return
	}
	p.frame++
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	elapsed := time.Since(p.start).Truncate(100 * time.Millisecond)
	for _, l := range p.layers {
		fmt.Fprintf(&b, "\r\x1b[2K%s: Pulling fs layer %s %8s  %s\n", short(l.digest), p.bar(), units.HumanSize(float64(l.size)), elapsed)
	}
	fmt.Fprintf(&b, "\r\x1b[2K%s pulling %s  (CRI reports no byte counts)\n", spinner[p.frame%len(spinner)], elapsed)
	p.drawn = len(p.layers) + 1
	_, _ = io.WriteString(p.w, b.String())
}

func (p *pullProgress) clear() {
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

func (p *pullProgress) finish(imageID string) {
	p.clear()
	for _, l := range p.layers {
		fmt.Fprintf(p.w, "%s: Pull complete %s\n", short(l.digest), units.HumanSize(float64(l.size)))
	}
	fmt.Fprintf(p.w, "Status: Downloaded image for %s in %s\n", p.ref, time.Since(p.start).Round(time.Millisecond))
	fmt.Fprintf(p.w, "Image ID: %s\n", imageID)
}

func (p *pullProgress) fail() { p.clear() }

// short is docker's 12-character form of an ID or digest.
func short(id string) string {
	if _, hex, ok := strings.Cut(id, ":"); ok {
		id = hex
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
