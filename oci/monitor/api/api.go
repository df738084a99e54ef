// Package api is the wire protocol between crid and its per-pod monitor, and the
// layout of the monitor's files in the pod state dir. Both sides import it; it
// stays free of gRPC and errdefs so that the monitor binary links little.
//
// The protocol is frames over a unix stream socket:
//
//	[4-byte big-endian length n][1-byte type][n-1 bytes payload]
//
// A connection starts with one Request (a FrameJSON). Unary operations answer
// with one Response and the connection may carry the next Request. Events,
// Exec and Attach turn the connection into a stream after the first Response:
// events send one FrameJSON State per exit; exec and attach carry stdio frames
// both ways and end with a FrameExit. One connection per stream keeps the
// multiplexing trivial: no stream ids, and closing the socket is the cancel.
package api

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Frame types.
const (
	FrameJSON   byte = 'j' // a Request, Response, State or Resize as JSON
	FrameStdin  byte = '0' // client → monitor: bytes for the process's stdin
	FrameStdout byte = '1' // monitor → client
	FrameStderr byte = '2' // monitor → client
	FrameEOF    byte = 'e' // client → monitor: close the process's stdin
	FrameResize byte = 'r' // client → monitor: 4 bytes, width then height (big-endian uint16)
	FrameExit   byte = 'x' // monitor → client: 4-byte big-endian exit code; the stream ends
)

// MaxFrame bounds a frame so a confused peer cannot make the other side allocate
// without limit. Specs are the largest payloads (a few KiB).
const MaxFrame = 4 << 20

// Operations.
const (
	OpCreatePodInfra = "create-pod-infra"
	OpCreate         = "create"
	OpStart          = "start"
	OpKill           = "kill"
	OpState          = "state"
	OpList           = "list"
	OpEvents         = "events"
	OpDelete         = "delete"
	OpUpdate         = "update"
	OpReopenLog      = "reopen-log"
	OpExec           = "exec"
	OpAttach         = "attach"
	OpShutdown       = "shutdown"
)

// InfraID names the pod infra process in State and Events. Create refuses it.
const InfraID = "pod-infra"

// Request is every operation's input; each op reads the fields it needs.
type Request struct {
	Op        string                `json:"op"`
	ID        string                `json:"id,omitempty"`
	Spec      *specs.Spec           `json:"spec,omitempty"`
	Rootfs    []specs.Mount         `json:"rootfs,omitempty"`
	LogPath   string                `json:"logPath,omitempty"`
	Stdin     bool                  `json:"stdin,omitempty"`
	StdinOnce bool                  `json:"stdinOnce,omitempty"`
	Terminal  bool                  `json:"terminal,omitempty"`
	Signal    int                   `json:"signal,omitempty"`
	All       bool                  `json:"all,omitempty"`
	Resources *specs.LinuxResources `json:"resources,omitempty"`
	Process   *specs.Process        `json:"process,omitempty"`
	// Stdout and Stderr say whether an attach wants that stream.
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`
}

// Response answers a Request. Code is empty on success.
type Response struct {
	Code   string   `json:"code,omitempty"`
	Error  string   `json:"error,omitempty"`
	Pid    int      `json:"pid,omitempty"`
	State  *State   `json:"state,omitempty"`
	States []*State `json:"states,omitempty"`
}

// Error codes on the wire; the client maps them to errdefs kinds.
const (
	CodeNotFound           = "not-found"
	CodeAlreadyExists      = "already-exists"
	CodeFailedPrecondition = "failed-precondition"
	CodeInvalidArgument    = "invalid-argument"
	CodeUnavailable        = "unavailable"
	CodeInternal           = "internal"
)

// Error is an error with a wire code, made by the monitor.
type Error struct {
	Code string
	Msg  string
	err  error // what WithCode was given, for errors.Is/As in the monitor
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.err }

// Errorf makes an Error with code.
func Errorf(code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// WithCode gives err a wire code, its text and chain unchanged (nil stays nil).
func WithCode(code string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Msg: err.Error(), err: err}
}

// ErrorResponse turns err into a Response; errors without a code are internal.
func ErrorResponse(err error) *Response {
	var e *Error
	if errors.As(err, &e) {
		return &Response{Code: e.Code, Error: err.Error()}
	}
	return &Response{Code: CodeInternal, Error: err.Error()}
}

// Container statuses.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusStopped = "stopped"
)

// State is a container's (or the pod infra's) life as the monitor saw it.
type State struct {
	ID         string    `json:"id"`
	Pid        int       `json:"pid"`
	Status     string    `json:"status"`
	ExitCode   int32     `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
}

// WriteFrame writes one frame. Callers serialise writes to one connection.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload)+1 > MaxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload)+1, MaxFrame)
	}
	// Header and small payloads in one write: one syscall, no interleaving surprises.
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)+1))
	hdr[4] = typ
	if len(payload) <= 512 {
		buf := make([]byte, 0, 5+len(payload))
		buf = append(append(buf, hdr[:]...), payload...)
		_, err := w.Write(buf)
		return err
	}
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// WriteJSON writes v as a FrameJSON.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, FrameJSON, b)
}

// ReadFrame reads one frame into buf (grown if needed) and returns its type and payload,
// which aliases buf.
func ReadFrame(r io.Reader, buf []byte) (typ byte, payload, newBuf []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > MaxFrame {
		return 0, nil, buf, fmt.Errorf("bad frame length %d", n)
	}
	n--
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, buf, err
	}
	return hdr[4], buf, buf, nil
}

// ReadJSON reads one frame that must be a FrameJSON and decodes it into v.
func ReadJSON(r io.Reader, v any) error {
	typ, p, _, err := ReadFrame(r, nil)
	if err != nil {
		return err
	}
	if typ != FrameJSON {
		return fmt.Errorf("want a JSON frame, got %q", typ)
	}
	return json.Unmarshal(p, v)
}

// Dir and the functions after it name the files of the monitor inside the pod
// state dir:
//
//	<state>/monitor/            0700, the monitor's own directory
//	<state>/monitor/sock        the unix socket crid connects to
//	<state>/monitor/pid         "<pid> <start time> <boot id>" of the monitor (bootid.ID)
//	<state>/monitor/log         the monitor's own log
//	<state>/monitor/containers/<id>/state.json   Record, written atomically
//	<state>/monitor/containers/<id>/spec.json    the spec, for Cleanup after a monitor crash
//	<state>/monitor/containers/<id>/exec/        the executor's state dir for this container
func Dir(stateDir string) string { return filepath.Join(stateDir, "monitor") }

// SocketPath is the monitor's socket (see Dir).
func SocketPath(stateDir string) string { return filepath.Join(stateDir, "monitor", "sock") }

// PidPath is the monitor's pid file (see Dir).
func PidPath(stateDir string) string { return filepath.Join(stateDir, "monitor", "pid") }

// LogPath is the monitor's own log (see Dir).
func LogPath(stateDir string) string { return filepath.Join(stateDir, "monitor", "log") }

// ContainersDir holds one directory per container (see Dir).
func ContainersDir(stateDir string) string { return filepath.Join(stateDir, "monitor", "containers") }

// ContainerDir is one container's directory (see Dir).
func ContainerDir(stateDir, id string) string {
	return filepath.Join(stateDir, "monitor", "containers", id)
}
