package api

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/internal/bootid"
)

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	big := bytes.Repeat([]byte("y"), 100000)
	if err := WriteFrame(&b, FrameStdout, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&b, FrameStderr, big); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&b, FrameEOF, nil); err != nil {
		t.Fatal(err)
	}
	req := &Request{Op: OpCreate, ID: "c1", Spec: &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}}, Terminal: true}
	if err := WriteJSON(&b, req); err != nil {
		t.Fatal(err)
	}

	var buf []byte
	for _, want := range []struct {
		typ byte
		p   []byte
	}{{FrameStdout, []byte("hi")}, {FrameStderr, big}, {FrameEOF, nil}} {
		typ, p, nb, err := ReadFrame(&b, buf)
		buf = nb
		if err != nil || typ != want.typ || !bytes.Equal(p, want.p) {
			t.Fatalf("frame %q (%d bytes) %v, want %q (%d bytes)", typ, len(p), err, want.typ, len(want.p))
		}
	}
	var got Request
	if err := ReadJSON(&b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Op != OpCreate || got.ID != "c1" || !got.Terminal || got.Spec.Process.Args[0] != "sh" {
		t.Fatalf("request %+v", got)
	}
}

func TestFrameLimits(t *testing.T) {
	if err := WriteFrame(&bytes.Buffer{}, FrameJSON, make([]byte, MaxFrame)); err == nil {
		t.Error("oversized frame written")
	}
	// A length past MaxFrame is refused before allocating.
	r := bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff, FrameJSON})
	if _, _, _, err := ReadFrame(r, nil); err == nil {
		t.Error("oversized frame read")
	}
	if _, _, _, err := ReadFrame(bytes.NewReader([]byte{0, 0, 0, 0, FrameJSON}), nil); err == nil {
		t.Error("empty frame read")
	}
}

func TestErrorResponse(t *testing.T) {
	r := ErrorResponse(Errorf(CodeNotFound, "container %q: not found", "x"))
	if r.Code != CodeNotFound || !strings.Contains(r.Error, `"x"`) {
		t.Errorf("%+v", r)
	}
	if r := ErrorResponse(errors.New("boom")); r.Code != CodeInternal {
		t.Errorf("%+v", r)
	}
	// WithCode below the server's own context: the code, the whole text, the cause.
	cause := errors.New("exec /x: no such file or directory")
	err := fmt.Errorf("start: %w", WithCode(CodeInvalidArgument, cause))
	if r := ErrorResponse(err); r.Code != CodeInvalidArgument || r.Error != "start: exec /x: no such file or directory" {
		t.Errorf("%+v", r)
	}
	if !errors.Is(err, cause) {
		t.Error("WithCode hides its cause")
	}
	if WithCode(CodeInvalidArgument, nil) != nil {
		t.Error("WithCode(nil) is an error")
	}
}

func TestRecordAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Round(0)
	rec := &Record{State: State{ID: "c", Pid: 12, Status: StatusStopped, ExitCode: 137, OOMKilled: true, FinishedAt: now}, StartTime: 99}
	if err := WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	rec.ExitCode = 1
	if err := WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExitCode != 1 || !got.OOMKilled || got.StartTime != 99 || !got.FinishedAt.Equal(now) {
		t.Errorf("record %+v", got)
	}
	// No temp files are left behind; the file is private.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "state.json" {
		t.Errorf("dir holds %v", ents)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "state.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

func TestWriteFileAtomicKeepsOldOnFailure(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFileAtomic(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Rename over a directory fails: the old content must stay, no temp left.
	if err := WriteFileAtomic(filepath.Join(dir, "sub"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "sub"))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "sub"), []byte("x"), 0o600); err == nil {
		t.Fatal("rename over a non-empty dir succeeded")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("temp file left: %v", ents)
	}
}

func TestProcStartTime(t *testing.T) {
	a, err := ProcStartTime(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("%d %v", a, err)
	}
	if b, _ := ProcStartTime(os.Getpid()); a != b {
		t.Errorf("start time changed: %d %d", a, b)
	}
	if _, err := ProcStartTime(1 << 30); err == nil {
		t.Error("no error for a missing pid")
	}
}

func TestValidID(t *testing.T) {
	for id, ok := range map[string]bool{"abc": true, "": false, ".": false, "..": false, "a/b": false, strings.Repeat("a", 64): true} {
		if ValidID(id) != ok {
			t.Errorf("ValidID(%q) = %v", id, !ok)
		}
	}
}

// TestPidFileBoot: the pid file records the boot; one of another boot names no
// process, and one from before boots were recorded is taken as this boot's.
func TestPidFileBoot(t *testing.T) {
	if bootid.ID() == "" {
		t.Skip("no boot id")
	}
	stateDir := t.TempDir()
	if err := os.MkdirAll(Dir(stateDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WritePidFile(stateDir, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	start, _ := ProcStartTime(os.Getpid())
	if pf, err := LoadPidFile(stateDir); err != nil || pf != (PidFile{os.Getpid(), start, bootid.ID()}) {
		t.Errorf("pid file %+v %v, want pid %d start %d boot %s", pf, err, os.Getpid(), start, bootid.ID())
	}
	for content, want := range map[string]error{
		"12 34\n":                     nil,
		"12 34 " + bootid.ID() + "\n": nil,
		"12 34 00000000-0000-0000-0000-000000000000\n": ErrOtherBoot,
	} {
		if err := os.WriteFile(PidPath(stateDir), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		pid, st, err := ReadPidFile(stateDir)
		if !errors.Is(err, want) || (want == nil && (pid != 12 || st != 34)) {
			t.Errorf("pid file %q: %d %d %v, want 12 34 %v", content, pid, st, err, want)
		}
	}
}
