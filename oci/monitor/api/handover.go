package api

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A monitor switches between its Go body and its C body (package supervise) by execve
// in place: same pid, same children, same file descriptors. A Handover is what one body
// tells the next, written into a memfd whose number the next body gets (C: the
// _CRID_SUPERVISE environment variable; Go: the --resume flag). The format is line-based
// text so that C reads and writes it without a parser library; its contract with the C
// side is kept in handover.md beside the design (issue 16).
//
//	crid-handover 1
//	argv <str>                 repeated: the Go monitor's argv, to exec back with
//	listener <fd>
//	sub <fd>                   repeated: an events subscriber (already acked)
//	ctr <id> key=value ...     one per container, the pod infra included
//	pending <id> stdout|stderr <len>\n<len bytes>\n   a partial line not yet logged
//	conn <fd>                  C → Go: an accepted, unread connection, served first
//	signal <n>                 C → Go: a termination signal C received
//	end
//
// Strings escape bytes <= 0x20, '%' and >= 0x7f as %XX; an empty string is an empty
// field. Timestamps are time.RFC3339Nano; "-" is the zero time.

// HandoverVersion is the format's version, the first line's field.
const HandoverVersion = 1

// HandoverEnv is the environment variable whose value is the memfd a C body reads.
const HandoverEnv = "_CRID_SUPERVISE"

// DetachEnv is set to "1" by the daemon on the crid-monitor it starts: the
// monitor's C launch constructor forks it into its own session before the Go
// runtime starts; the process crid started exits at once, its child is the
// monitor. The monitor unsets it, so that nothing it execs forks again.
const DetachEnv = "_CRID_DETACH"

// maxHandover bounds what ParseHandover reads: a pod has a few dozen containers.
const maxHandover = 64 << 20

// Handover is the state passed from one body of a monitor to the next.
type Handover struct {
	Argv       []string
	Listener   int
	Subs       []int
	Containers []*HandoverContainer
	Conn       int // 0: none (fds 0-2 are the monitor's stdio, never a connection)
	Signal     int // 0: none
}

// HandoverContainer is one container's part of a Handover. File descriptors are -1
// when absent.
type HandoverContainer struct {
	Record
	Dir       string // the container's monitor dir (state.json, spec.json)
	Log       int    // the CRI log file, opened O_APPEND
	LogPath   string // where the log is reopened after rotation
	MaxLine   int
	Out, Err  int // the monitor's read ends of stdout and stderr (a tty: Out is the console, Err -1)
	Stdin     int // the monitor's write end of stdin (a tty: the console)
	Console   int // the pty master
	StdinOnce bool
	// CgroupProcs are the cgroup dirs whose processes are killed after the init exits.
	CgroupProcs []string
	// OOMFile's OOMKey counter above OOMBase at the exit means OOMKilled. OOMWatch: the
	// file belongs to a unit that may vanish before the exit is read (follow it).
	OOMFile  string
	OOMKey   string
	OOMBase  uint64
	OOMWatch bool
	// PendingOut and PendingErr are the partial lines not yet logged.
	PendingOut, PendingErr []byte
	// Extra are key=value fields this version does not know, written back unchanged.
	Extra []string
}

// NewHandoverContainer returns a container part with every fd absent.
func NewHandoverContainer(r Record) *HandoverContainer {
	return &HandoverContainer{Record: r, Log: -1, Out: -1, Err: -1, Stdin: -1, Console: -1}
}

// Fds lists every descriptor h names: the ones that must survive the execve.
func (h *Handover) Fds() []int {
	var fds []int
	add := func(fd int) {
		if fd >= 0 {
			fds = append(fds, fd)
		}
	}
	add(h.Listener)
	for _, fd := range h.Subs {
		add(fd)
	}
	for _, c := range h.Containers {
		for _, fd := range []int{c.Log, c.Out, c.Err, c.Stdin, c.Console} {
			add(fd)
		}
	}
	if h.Conn > 0 {
		add(h.Conn)
	}
	return fds
}

// Marshal encodes h. It fails on what the format cannot carry (an invalid id, a
// negative count).
func (h *Handover) Marshal() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "crid-handover %d\n", HandoverVersion)
	for _, a := range h.Argv {
		b.WriteString("argv " + escapeField(a) + "\n")
	}
	fmt.Fprintf(&b, "listener %d\n", h.Listener)
	for _, fd := range h.Subs {
		fmt.Fprintf(&b, "sub %d\n", fd)
	}
	seen := map[string]bool{}
	for _, c := range h.Containers {
		if !ValidID(c.ID) || seen[c.ID] {
			return nil, fmt.Errorf("handover: bad or repeated container id %q", c.ID)
		}
		seen[c.ID] = true
		if err := c.marshal(&b); err != nil {
			return nil, err
		}
	}
	for _, c := range h.Containers {
		for _, p := range []struct {
			name string
			b    []byte
		}{{"stdout", c.PendingOut}, {"stderr", c.PendingErr}} {
			if len(p.b) > 0 {
				fmt.Fprintf(&b, "pending %s %s %d\n", escapeField(c.ID), p.name, len(p.b))
				b.Write(p.b)
				b.WriteByte('\n')
			}
		}
	}
	if h.Conn > 0 {
		fmt.Fprintf(&b, "conn %d\n", h.Conn)
	}
	if h.Signal > 0 {
		fmt.Fprintf(&b, "signal %d\n", h.Signal)
	}
	b.WriteString("end\n")
	return b.Bytes(), nil
}

func (c *HandoverContainer) marshal(b *bytes.Buffer) error {
	if c.Pid < 0 || c.MaxLine < 0 {
		return fmt.Errorf("handover: container %q: negative pid or maxline", c.ID)
	}
	switch c.Status {
	case StatusCreated, StatusRunning, StatusStopped:
	default:
		return fmt.Errorf("handover: container %q: status %q", c.ID, c.Status)
	}
	f := []string{"ctr", escapeField(c.ID),
		"pid=" + strconv.Itoa(c.Pid),
		"starttime=" + strconv.FormatUint(c.StartTime, 10),
		"status=" + c.Status,
		"exitcode=" + strconv.Itoa(int(c.ExitCode)),
		"oom=" + boolField(c.OOMKilled),
		"createdat=" + timeField(c.CreatedAt),
		"startedat=" + timeField(c.StartedAt),
		"finishedat=" + timeField(c.FinishedAt),
		"dir=" + escapeField(c.Dir),
		"log=" + strconv.Itoa(c.Log),
		"logpath=" + escapeField(c.LogPath),
		"maxline=" + strconv.Itoa(c.MaxLine),
		"out=" + strconv.Itoa(c.Out),
		"err=" + strconv.Itoa(c.Err),
		"stdin=" + strconv.Itoa(c.Stdin),
		"console=" + strconv.Itoa(c.Console),
		"stdinonce=" + boolField(c.StdinOnce),
	}
	for _, d := range c.CgroupProcs {
		f = append(f, "cgproc="+escapeField(d))
	}
	if c.OOMFile != "" {
		f = append(f, "oomfile="+escapeField(c.OOMFile), "oomkey="+escapeField(c.OOMKey),
			"oombase="+strconv.FormatUint(c.OOMBase, 10), "oomwatch="+boolField(c.OOMWatch))
	}
	for _, x := range c.Extra {
		k, _, ok := strings.Cut(x, "=")
		if !ok || k == "" || checkField(x) != nil {
			return fmt.Errorf("handover: container %q: bad extra field %q", c.ID, x)
		}
		f = append(f, x)
	}
	b.WriteString(strings.Join(f, " "))
	b.WriteByte('\n')
	return nil
}

// ParseHandover decodes a handover written by Marshal or by the C body.
func ParseHandover(data []byte) (*Handover, error) {
	if len(data) > maxHandover {
		return nil, fmt.Errorf("handover: %d bytes", len(data))
	}
	h := &Handover{Listener: -1}
	byID := map[string]*HandoverContainer{}
	line, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || string(line) != "crid-handover "+strconv.Itoa(HandoverVersion) {
		return nil, fmt.Errorf("handover: not version %d: %.40q", HandoverVersion, line)
	}
	for n := 2; ; n++ {
		if line, rest, ok = bytes.Cut(rest, []byte("\n")); !ok {
			return nil, errors.New("handover: no end line")
		}
		f := strings.Split(string(line), " ")
		bad := func(format string, args ...any) error {
			return fmt.Errorf("handover line %d (%.60q): %s", n, line, fmt.Sprintf(format, args...))
		}
		var err error
		switch f[0] {
		case "end":
			if len(f) != 1 || len(rest) != 0 {
				return nil, bad("trailing data")
			}
			if h.Listener < 0 {
				return nil, bad("no listener")
			}
			return h, nil
		case "argv":
			if len(f) != 2 {
				return nil, bad("want one field")
			}
			var a string
			if a, err = unescapeField(f[1]); err != nil {
				return nil, bad("%v", err)
			}
			h.Argv = append(h.Argv, a)
		case "listener", "sub", "conn", "signal":
			if len(f) != 2 {
				return nil, bad("want one field")
			}
			var v int
			if v, err = atoiNonNeg(f[1]); err != nil {
				return nil, bad("%v", err)
			}
			switch f[0] {
			case "listener":
				h.Listener = v
			case "sub":
				h.Subs = append(h.Subs, v)
			case "conn":
				h.Conn = v
			case "signal":
				h.Signal = v
			}
		case "ctr":
			c, err := parseContainer(f[1:])
			if err != nil {
				return nil, bad("%v", err)
			}
			if byID[c.ID] != nil {
				return nil, bad("container %q repeated", c.ID)
			}
			byID[c.ID] = c
			h.Containers = append(h.Containers, c)
		case "pending":
			if len(f) != 4 {
				return nil, bad("want three fields")
			}
			id, err := unescapeField(f[1])
			if err != nil {
				return nil, bad("%v", err)
			}
			c := byID[id]
			if c == nil {
				return nil, bad("no container %q", id)
			}
			size, err := atoiNonNeg(f[3])
			if err != nil || size == 0 || size >= len(rest) || rest[size] != '\n' {
				return nil, bad("bad length")
			}
			p := append([]byte(nil), rest[:size]...)
			rest = rest[size+1:]
			switch {
			case f[2] == "stdout" && c.PendingOut == nil:
				c.PendingOut = p
			case f[2] == "stderr" && c.PendingErr == nil:
				c.PendingErr = p
			default:
				return nil, bad("bad or repeated stream")
			}
		default:
			return nil, bad("unknown line")
		}
	}
}

func parseContainer(f []string) (*HandoverContainer, error) {
	if len(f) == 0 {
		return nil, errors.New("no id")
	}
	id, err := unescapeField(f[0])
	if err != nil {
		return nil, err
	}
	if !ValidID(id) {
		return nil, fmt.Errorf("invalid id %q", id)
	}
	c := NewHandoverContainer(Record{State: State{ID: id}})
	seen := map[string]bool{}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("field %q is not key=value", kv)
		}
		if seen[k] && k != "cgproc" {
			return nil, fmt.Errorf("key %q repeated", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "pid":
			c.Pid, err = atoiNonNeg(v)
		case "starttime":
			c.StartTime, err = strconv.ParseUint(v, 10, 64)
		case "status":
			switch v {
			case StatusCreated, StatusRunning, StatusStopped:
				c.Status = v
			default:
				err = fmt.Errorf("status %q", v)
			}
		case "exitcode":
			var x int64
			x, err = strconv.ParseInt(v, 10, 32)
			c.ExitCode = int32(x)
		case "oom":
			c.OOMKilled, err = parseBool(v)
		case "createdat":
			c.CreatedAt, err = parseTime(v)
		case "startedat":
			c.StartedAt, err = parseTime(v)
		case "finishedat":
			c.FinishedAt, err = parseTime(v)
		case "dir":
			c.Dir, err = unescapeField(v)
		case "log":
			c.Log, err = atoiFd(v)
		case "logpath":
			c.LogPath, err = unescapeField(v)
		case "maxline":
			c.MaxLine, err = atoiNonNeg(v)
		case "out":
			c.Out, err = atoiFd(v)
		case "err":
			c.Err, err = atoiFd(v)
		case "stdin":
			c.Stdin, err = atoiFd(v)
		case "console":
			c.Console, err = atoiFd(v)
		case "stdinonce":
			c.StdinOnce, err = parseBool(v)
		case "cgproc":
			var d string
			if d, err = unescapeField(v); err == nil {
				c.CgroupProcs = append(c.CgroupProcs, d)
			}
		case "oomfile":
			c.OOMFile, err = unescapeField(v)
		case "oomkey":
			c.OOMKey, err = unescapeField(v)
		case "oombase":
			c.OOMBase, err = strconv.ParseUint(v, 10, 64)
		case "oomwatch":
			c.OOMWatch, err = parseBool(v)
		default:
			// Kept verbatim for the next body; escaped like every field.
			err = checkField(kv)
			c.Extra = append(c.Extra, kv)
		}
		if err != nil {
			return nil, fmt.Errorf("container %q: %s: %w", id, k, err)
		}
	}
	if c.Status == "" {
		return nil, fmt.Errorf("container %q: no status", id)
	}
	if (c.OOMFile == "") != (c.OOMKey == "") {
		return nil, fmt.Errorf("container %q: oomfile without oomkey", id)
	}
	return c, nil
}

func escapeField(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '%' || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescapeField(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, checkField(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			if s[i] <= ' ' || s[i] >= 0x7f {
				return "", fmt.Errorf("unescaped byte %#x", s[i])
			}
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
		c := byte(v)
		if c > ' ' && c != '%' && c < 0x7f {
			return "", fmt.Errorf("needless escape in %q", s) // one spelling per string
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), nil
}

func checkField(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("unescaped byte %#x", s[i])
		}
	}
	return nil
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func parseBool(s string) (bool, error) {
	switch s {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("want 0 or 1, got %q", s)
}

func timeField(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "-" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.IsZero() {
		return time.Time{}, errors.New("the zero time is written -")
	}
	return t, nil
}

func atoiNonNeg(s string) (int, error) {
	if s == "" || s[0] == '+' || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad number %q", s)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 1<<31-1 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}

func atoiFd(s string) (int, error) {
	if s == "-1" {
		return -1, nil
	}
	return atoiNonNeg(s)
}
