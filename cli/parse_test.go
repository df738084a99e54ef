package cli

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestParsePublish(t *testing.T) {
	for in, want := range map[string]portMapping{
		"80":                 {ContainerPort: 80, Protocol: "tcp"},
		"8080:80":            {HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"127.0.0.1:8080:80":  {HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"127.0.0.1::53/udp":  {HostIP: "127.0.0.1", ContainerPort: 53, Protocol: "udp"},
		"[::1]:8080:80/sctp": {HostIP: "::1", HostPort: 8080, ContainerPort: 80, Protocol: "sctp"},
	} {
		got, err := parsePublish(in)
		if err != nil || got != want {
			t.Errorf("parsePublish(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"8080:http", "0:80", "70000:80", "80/icmp", "1.2.3:80:80", "a:b:c:d"} {
		if _, err := parsePublish(bad); err == nil {
			t.Errorf("parsePublish(%q) accepted", bad)
		}
	}
}

func TestClaimPortsRefusesTaken(t *testing.T) {
	taken := []portMapping{{HostPort: 18080, ContainerPort: 80, Protocol: "tcp"}}
	ports := []portMapping{{HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 80, Protocol: "tcp"}}
	if err := claimPorts(ports, taken); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Errorf("a port another container publishes: %v", err)
	}
	free := []portMapping{{HostIP: "127.0.0.1", ContainerPort: 80, Protocol: "tcp"}}
	if err := claimPorts(free, nil); err != nil || free[0].HostPort == 0 {
		t.Errorf("no host port given: %+v, %v; want a free one chosen", free, err)
	}
}

func TestParseVolume(t *testing.T) {
	dir := t.TempDir()
	m, err := parseVolume(dir + ":/data:ro")
	if err != nil || m.HostPath != dir || m.ContainerPath != "/data" || !m.Readonly {
		t.Errorf("parseVolume: %+v, %v", m, err)
	}
	for in, want := range map[string]string{
		"data:/data":        "named volumes are not supported",
		dir + ":rel":        "container path must be absolute",
		dir + ":/":          "container path must be absolute",
		"/nonexistent/x:/d": "bind source path does not exist",
		dir + ":/d:z":       "unknown mode",
		dir:                 "invalid volume specification",
	} {
		if _, err := parseVolume(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseVolume(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestParseTmpfs(t *testing.T) {
	ts, err := parseTmpfs("/scratch:size=8m,noexec,mode=0700")
	if err != nil || ts.target != "/scratch" || ts.data != "size=8m,mode=0700" {
		t.Errorf("parseTmpfs: %+v, %v", ts, err)
	}
	for _, bad := range []string{"scratch", "/", "/x:size=1m,bogus"} {
		if _, err := parseTmpfs(bad); err == nil {
			t.Errorf("parseTmpfs(%q) accepted", bad)
		}
	}
}

func TestRunOptionsParse(t *testing.T) {
	t.Setenv("CRID_TEST_FROM_SHELL", "shell-value")
	o := runOptions{network: "bridge", pull: "missing", memory: "64m", cpus: "0.5", user: "1000:50",
		env: []string{"A=1", "CRID_TEST_FROM_SHELL", "CRID_TEST_UNSET_VAR"}, capAdd: []string{"net_admin"}, capDrop: []string{"CAP_CHOWN"}}
	s, err := o.parse([]string{"busybox", "echo", "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if s.res.MemoryLimitInBytes != 64<<20 || s.res.CpuQuota != 50000 || s.res.CpuPeriod != 100000 {
		t.Errorf("resources: %+v", s.res)
	}
	if s.sec.RunAsUser.GetValue() != 1000 || s.sec.RunAsGroup.GetValue() != 50 {
		t.Errorf("user: %+v", s.sec)
	}
	if got := s.sec.Capabilities.AddCapabilities[0] + "," + s.sec.Capabilities.DropCapabilities[0]; got != "NET_ADMIN,CHOWN" {
		t.Errorf("capabilities: %s", got)
	}
	if len(s.env) != 2 || string(s.env[1].Value) != "shell-value" {
		t.Errorf("env: %v", s.env)
	}
	for _, bad := range []runOptions{
		{network: "overlay", pull: "missing"},
		{network: "bridge", pull: "sometimes"},
		{network: "bridge", pull: "missing", memory: "lots"},
		{network: "bridge", pull: "missing", cpus: "-1"},
		{network: "bridge", pull: "missing", user: "1000:staff"},
		{network: "bridge", pull: "missing", name: "../escape"},
		{network: "bridge", pull: "missing", detach: true, rm: true},
	} {
		if _, err := bad.parse([]string{"busybox"}); err == nil {
			t.Errorf("parse accepted %+v", bad)
		}
	}
}

func TestLogPrinter(t *testing.T) {
	in := "2026-01-02T03:04:05.000000001Z stdout F hello\n" +
		"2026-01-02T03:04:06Z stderr P par\n" +
		"2026-01-02T03:04:06Z stderr F tial\n" +
		"2026-01-02T03:04:07Z stdout F last\n"
	var out, errs bytes.Buffer
	p := &logPrinter{o: logOptions{tail: -1}, stdout: &out, stderr: &errs}
	if err := p.copy(bufio.NewReader(strings.NewReader(in))); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\nlast\n" || errs.String() != "partial\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errs.String())
	}
	lines, err := lastLines(bufio.NewReader(strings.NewReader(in)), 1)
	if err != nil || len(lines) != 1 || !strings.HasSuffix(string(lines[0]), "last\n") {
		t.Errorf("lastLines: %q %v", lines, err)
	}
	out.Reset()
	since, _ := time.Parse(time.RFC3339, "2026-01-02T03:04:07Z")
	p = &logPrinter{o: logOptions{since: since, timestamps: true}, stdout: &out, stderr: io.Discard}
	_ = p.copy(bufio.NewReader(strings.NewReader(in)))
	if out.String() != "2026-01-02T03:04:07Z last\n" {
		t.Errorf("--since -t: %q", out.String())
	}
}

func TestDetachReader(t *testing.T) {
	r := newDetachReader(strings.NewReader("ab\x10c\x10\x11zz"))
	got, err := io.ReadAll(r)
	if !errors.Is(err, errDetached) || string(got) != "ab\x10c" {
		t.Errorf("read %q, %v; want the bytes before ctrl-p ctrl-q, then errDetached", got, err)
	}
	select {
	case <-r.detached:
	default:
		t.Error("detach sequence not reported")
	}
}

// closeRecorder is a remote stdin that remembers whether it was closed.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestForwardStdinDetachKeepsRemoteStdinOpen: typing the detach keys must not close the
// container's stdin (a shell would exit: e2e TestCLIRunDetachKeys failed when that close
// won the race with the disconnect); the end of local stdin must.
func TestForwardStdinDetachKeepsRemoteStdinOpen(t *testing.T) {
	var detached closeRecorder
	forwardStdin(&detached, newDetachReader(strings.NewReader("ls\n\x10\x11more")))
	if detached.closed || detached.String() != "ls\n" {
		t.Errorf("after detach: closed %v, sent %q; want open, \"ls\\n\"", detached.closed, detached.String())
	}
	var ended closeRecorder
	forwardStdin(&ended, newDetachReader(strings.NewReader("exit\n")))
	if !ended.closed || ended.String() != "exit\n" {
		t.Errorf("at EOF: closed %v, sent %q; want closed, \"exit\\n\"", ended.closed, ended.String())
	}
}

func TestPick(t *testing.T) {
	mk := func(id, name string) *entry {
		return &entry{pod: podOf(id, name), rec: &runRecord{}}
	}
	list := []*entry{mk("abc123", "web"), mk("abd456", "db")}
	if e, err := pick(list, "web"); err != nil || e.ID() != "abc123" {
		t.Errorf("by name: %v %v", e, err)
	}
	if e, err := pick(list, "abd"); err != nil || e.Name() != "db" {
		t.Errorf("by prefix: %v %v", e, err)
	}
	if _, err := pick(list, "ab"); err == nil || !strings.Contains(err.Error(), "multiple IDs") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := pick(list, "zzz"); err == nil {
		t.Error("unknown name found")
	}
}

func podOf(id, name string) *runtimeapi.PodSandbox {
	return &runtimeapi.PodSandbox{Id: id, Metadata: &runtimeapi.PodSandboxMetadata{Name: name}}
}
