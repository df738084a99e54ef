package api

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleHandover() *Handover {
	t0 := time.Date(2026, 12, 7, 4, 5, 6, 789000000, time.FixedZone("", 3600))
	running := NewHandoverContainer(Record{State: State{ID: "c 1%", Pid: 42, Status: StatusRunning,
		CreatedAt: t0, StartedAt: t0.Add(time.Second)}, StartTime: 123456})
	running.Dir = "/run/crid/pods/p/monitor/containers/c 1%"
	running.Log, running.LogPath, running.MaxLine = 7, "/var/log/pods/p/c/0.log", 16384
	running.Out, running.Err, running.Stdin = 8, 9, 10
	running.StdinOnce = true
	running.CgroupProcs = []string{"/sys/fs/cgroup/pids/crid/c1", "/sys/fs/cgroup/memory/crid/c1"}
	running.OOMFile, running.OOMKey, running.OOMWatch = "/sys/fs/cgroup/memory/crid/c1/memory.oom_control", "oom_kill", true
	running.PendingOut = []byte("half a line\x00 with\nnewline? no: a pty's bytes, end\n")
	running.PendingErr = []byte{0xff}
	tty := NewHandoverContainer(Record{State: State{ID: "tty", Pid: 43, Status: StatusRunning, CreatedAt: t0, StartedAt: t0}})
	tty.Out, tty.Console, tty.Stdin = 11, 11, 11
	tty.Extra = []string{"future=x%20y"}
	stopped := NewHandoverContainer(Record{State: State{ID: "done", Pid: 44, Status: StatusStopped, ExitCode: 137,
		OOMKilled: true, CreatedAt: t0, StartedAt: t0, FinishedAt: t0.Add(time.Minute).UTC()}})
	infra := NewHandoverContainer(Record{State: State{ID: InfraID, Pid: 41, Status: StatusRunning, CreatedAt: t0, StartedAt: t0}})
	return &Handover{
		Argv:       []string{"/usr/bin/crid-monitor", "monitor", "pod 1", "--state-dir", "/run/crid/pods/p", "--overlay=", "--forked"},
		Listener:   3,
		Subs:       []int{4, 5},
		Containers: []*HandoverContainer{infra, running, tty, stopped},
		Conn:       12,
		Signal:     15,
	}
}

func TestHandoverRoundTrip(t *testing.T) {
	for name, h := range map[string]*Handover{
		"full":    sampleHandover(),
		"minimal": {Listener: 3},
	} {
		b, err := h.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := ParseHandover(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		again, err := got.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs (%v):\n%s\n---\n%s", name, err, b, again)
		}
		if len(got.Containers) != len(h.Containers) {
			t.Fatalf("%s: %d containers", name, len(got.Containers))
		}
		for i, c := range got.Containers {
			w := h.Containers[i]
			for _, tt := range [][2]time.Time{{c.CreatedAt, w.CreatedAt}, {c.StartedAt, w.StartedAt}, {c.FinishedAt, w.FinishedAt}} {
				if !tt[0].Equal(tt[1]) {
					t.Errorf("%s: %s: time %v, want %v", name, c.ID, tt[0], tt[1])
				}
			}
			c.CreatedAt, c.StartedAt, c.FinishedAt = w.CreatedAt, w.StartedAt, w.FinishedAt
			if !reflect.DeepEqual(c, w) {
				t.Errorf("%s: container\n%+v\nwant\n%+v", name, c, w)
			}
		}
		if !reflect.DeepEqual(got.Argv, h.Argv) || !reflect.DeepEqual(got.Subs, h.Subs) ||
			got.Listener != h.Listener || got.Conn != h.Conn || got.Signal != h.Signal {
			t.Errorf("%s: got %+v, want %+v", name, got, h)
		}
	}
}

// The exact text: the C side reads and writes it, so a change here is a change of the
// contract (handover.md).
func TestHandoverText(t *testing.T) {
	h := &Handover{Argv: []string{"crid-monitor", "a b", ""}, Listener: 3, Subs: []int{4}}
	c := NewHandoverContainer(Record{State: State{ID: "c1", Pid: 9, Status: StatusRunning,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)}, StartTime: 77})
	c.Out, c.PendingOut = 5, []byte("ab")
	h.Containers = []*HandoverContainer{c}
	b, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "crid-handover 1\nargv crid-monitor\nargv a%20b\nargv \nlistener 3\nsub 4\n" +
		"ctr c1 pid=9 starttime=77 status=running exitcode=0 oom=0 createdat=2026-01-02T03:04:05.0000006Z startedat=- finishedat=- " +
		"dir= log=-1 logpath= maxline=0 out=5 err=-1 stdin=-1 console=-1 stdinonce=0\n" +
		"pending c1 stdout 2\nab\nend\n"
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	if fds := h.Fds(); !reflect.DeepEqual(fds, []int{3, 4, 5}) {
		t.Errorf("Fds %v", fds)
	}
}

func TestHandoverRejects(t *testing.T) {
	good := "crid-handover 1\nlistener 3\n"
	ctr := "ctr c1 pid=9 status=running"
	for name, in := range map[string]string{
		"empty":            "",
		"version":          "crid-handover 2\nlistener 3\nend\n",
		"no end":           good,
		"after end":        good + "end\nsub 4\n",
		"no listener":      "crid-handover 1\nend\n",
		"unknown line":     good + "bogus 1\nend\n",
		"negative fd":      good + "sub -4\nend\n",
		"leading zero":     good + "sub 04\nend\n",
		"two spaces":       good + "sub  4\nend\n",
		"bad escape":       good + "argv a%2\nend\n",
		"lower hex":        good + "argv a%2f\nend\n",
		"needless escape":  good + "argv a%41\nend\n",
		"raw tab":          good + "argv a\tb\nend\n",
		"bad id":           good + "ctr a%2Fb status=running\nend\n",
		"repeated id":      good + ctr + "\n" + ctr + "\nend\n",
		"no status":        good + "ctr c1 pid=9\nend\n",
		"bad status":       good + "ctr c1 status=paused\nend\n",
		"repeated key":     good + ctr + " pid=10\nend\n",
		"not key=value":    good + ctr + " pid\nend\n",
		"bad time":         good + ctr + " createdat=yesterday\nend\n",
		"zero time":        good + ctr + " createdat=0001-01-01T00:00:00Z\nend\n",
		"oomfile alone":    good + ctr + " oomfile=/x\nend\n",
		"fd -2":            good + ctr + " out=-2\nend\n",
		"pending unknown":  good + "pending c2 stdout 1\nx\nend\n",
		"pending short":    good + ctr + "\npending c1 stdout 5\nab\nend\n",
		"pending no nl":    good + ctr + "\npending c1 stdout 2\nabXend\n",
		"pending zero":     good + ctr + "\npending c1 stdout 0\n\nend\n",
		"pending repeated": good + ctr + "\npending c1 stdout 1\na\npending c1 stdout 1\nb\nend\n",
		"pending stream":   good + ctr + "\npending c1 stdin 1\na\nend\n",
	} {
		if h, err := ParseHandover([]byte(in)); err == nil {
			t.Errorf("%s: accepted: %+v", name, h)
		}
	}
	if _, err := ParseHandover([]byte(good + ctr + "\nend\n")); err != nil {
		t.Errorf("the base case must parse: %v", err)
	}
}

func TestHandoverMarshalRejects(t *testing.T) {
	for name, c := range map[string]*HandoverContainer{
		"bad id":     NewHandoverContainer(Record{State: State{ID: "a/b", Status: StatusRunning}}),
		"no status":  NewHandoverContainer(Record{State: State{ID: "a"}}),
		"bad extra":  {Record: Record{State: State{ID: "a", Status: StatusRunning}}, Extra: []string{"x y=1"}},
		"neg maxlen": {Record: Record{State: State{ID: "a", Status: StatusRunning}}, MaxLine: -1},
	} {
		if _, err := (&Handover{Listener: 3, Containers: []*HandoverContainer{c}}).Marshal(); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
	if !strings.Contains(escapeField("a b%\x7f\xffé"), "a%20b%25%7F%FF%C3%A9") {
		t.Errorf("escape %q", escapeField("a b%\x7f\xffé"))
	}
}
